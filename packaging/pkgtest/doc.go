// Package pkgtest installs the .deb that `make package` built into this
// machine, mounts a bucket through /etc/fstab with the installed helper, and
// removes the package. It changes the system, so its test is built only with
// -tags debinstall; .ci/package runs it after make package.
package pkgtest
