package config

import (
	"strings"
)

const usageHead = `s3mount: mount an S3 bucket as a directory that application logs can live on

Usage: s3mount [OPTIONS] <BUCKET | s3://bucket/prefix/> <DIRECTORY>
       s3mount <BUCKET> <DIRECTORY> -o <OPTIONS>
       s3mount status <DIRECTORY>

Arguments:
  <BUCKET>
          Name of bucket, or an S3 URI (s3://bucket/ or s3://bucket/prefix/), to mount
  <DIRECTORY>
          Directory to mount the bucket at (an existing directory, or /dev/fd/N for a FUSE file
          descriptor)
`

const usageTail = `
Sizes:
  A number with an optional unit b, k, m, g or t (also kb, kib, mb, mib, ...; any case; all
  powers of 1024), like 25m, 1g or 1.5GiB. A bare number is bytes, except for --memory-target
  and --max-cache-size, where it is MiB as in Mountpoint.

Durations:
  Like 10s, 1m, 500ms or 1h. A bare number is seconds.

Alternative fstab style:
  s3mount <BUCKET> <DIRECTORY> -o <OPTIONS>

  <OPTIONS> is a comma-separated list of the options above without the leading "--", with
  key=value for options that take a value, e.g. -o prefix=logs/,uid=1000,allow-other. Use of
  "--" to prefix options is not allowed. Inside a value, escape a comma, a backslash or a double
  quote with a backslash (\, \\ \"); an unescaped double quote is an error. In /etc/fstab itself
  a space is written \040. "ro" means --read-only and cannot be combined with "rw". Generic mount
  options (rw, defaults, auto, noauto, user, nouser, users, _netdev, nofail, exec, noexec, suid,
  nosuid, dev, nodev, atime options, x-* such as x-systemd.*) are accepted and ignored, and so
  are the mount helper flags -n, -s and -v. "foreground" is refused: mount(8) expects s3mount to
  go to the background. FUSE spellings with underscores (allow_other) are accepted.
`

// Usage is the full --help text.
func Usage() string {
	var b strings.Builder
	b.WriteString(usageHead)
	for _, g := range groupOrder {
		b.WriteString("\n" + g + ":\n")
		for _, f := range flagTable {
			if f.group != g {
				continue
			}
			b.WriteString(flagLine(f) + "\n")
			b.WriteString(wrap(flagHelp(f), 10, 100))
		}
	}
	b.WriteString(usageTail)
	return b.String()
}

// flagHelp is an option's text in --help and in the man page.
func flagHelp(f *flagDef) string {
	help := f.help
	if f.def != "" {
		help += " [default: " + f.def + "]"
	}
	if len(f.aliases) > 0 {
		help += " (also --" + strings.Join(f.aliases, ", --") + ")"
	}
	if f.notYet != "" {
		help += " [accepted; not yet implemented]"
	}
	return help
}

func flagLine(f *flagDef) string {
	s := "      --" + f.name
	if f.short != 0 {
		s = "  -" + string(f.short) + ", --" + f.name
	}
	if f.value != "" {
		s += " <" + f.value + ">"
	}
	return s
}

// wrap indents text by indent spaces and breaks it into lines of at most
// width columns.
func wrap(text string, indent, width int) string {
	var b strings.Builder
	pad := strings.Repeat(" ", indent)
	line := pad
	for _, w := range strings.Fields(text) {
		if len(line) > indent && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = pad
		}
		if len(line) > indent {
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
	return b.String()
}
