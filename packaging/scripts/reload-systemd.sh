#!/bin/sh
# After install and removal: systemd re-reads s3mount@.service. Spool
# directories (/var/lib/s3mount) are never removed: they may hold data not
# yet published to S3 (s3mount recover lists it).
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
