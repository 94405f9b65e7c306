package config

import (
	"strings"
)

// ManPage is s3mount(8) in roff. Its synopsis, arguments, options and notes
// are the --help texts (usageHead, the flag table, usageTail), so the two
// cannot drift; only the sections --help has no room for (description,
// commands, environment, files, exit status) are written here.
// packaging/s3mount.8 is its output: go run ./internal/config/manpage.
func ManPage() string {
	var b strings.Builder
	head := strings.Split(strings.TrimRight(usageHead, "\n"), "\n")
	b.WriteString(manHeader)
	b.WriteString(".SH NAME\ns3mount \\- " + roff(strings.TrimPrefix(head[0], "s3mount: ")) + "\n")
	b.WriteString(".SH SYNOPSIS\n.nf\n")
	rest := head[1:]
	for len(rest) > 0 && strings.TrimSpace(rest[0]) == "" {
		rest = rest[1:]
	}
	for len(rest) > 0 && strings.TrimSpace(rest[0]) != "" {
		line := strings.TrimSpace(strings.TrimPrefix(rest[0], "Usage:"))
		cmd, args, _ := strings.Cut(line, " ")
		b.WriteString("\\fB" + roff(cmd) + "\\fR " + roff(args) + "\n")
		rest = rest[1:]
	}
	b.WriteString(".fi\n")
	b.WriteString(manDescription)
	writeHelpSections(&b, rest)
	b.WriteString(".SH OPTIONS\n")
	for _, g := range groupOrder {
		title := g
		if g == grpGeneral {
			title = "General options"
		}
		b.WriteString(".SS " + roff(title) + "\n")
		for _, f := range flagTable {
			if f.group != g {
				continue
			}
			b.WriteString(".TP\n" + manFlagTerm(f) + "\n" + roff(flagHelp(f)) + "\n")
		}
	}
	writeHelpSections(&b, strings.Split(strings.Trim(usageTail, "\n"), "\n"))
	b.WriteString(manTail)
	return b.String()
}

// manFlagTerm is flagLine in roff: options bold, the value in italics.
func manFlagTerm(f *flagDef) string {
	s := "\\fB\\-\\-" + roff(f.name) + "\\fR"
	if f.short != 0 {
		s = "\\fB\\-" + string(f.short) + "\\fR, " + s
	}
	if f.value != "" {
		s += " \\fI<" + roff(f.value) + ">\\fR"
	}
	return s
}

// writeHelpSections renders --help text: a line "Heading:" starts a
// section, a blank line a paragraph, a line indented by 2 followed by
// lines indented by 10 a term and its description, and a paragraph that
// is one s3mount command line an example.
func writeHelpSections(b *strings.Builder, lines []string) {
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			continue
		case !strings.HasPrefix(l, " ") && strings.HasSuffix(l, ":"):
			b.WriteString(".SH " + roff(strings.ToUpper(strings.TrimSuffix(l, ":"))) + "\n")
		case i+1 < len(lines) && strings.HasPrefix(lines[i+1], strings.Repeat(" ", 10)):
			b.WriteString(".TP\n\\fI" + roff(strings.TrimSpace(l)) + "\\fR\n")
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], strings.Repeat(" ", 10)) {
				i++
				b.WriteString(roff(strings.TrimSpace(lines[i])) + "\n")
			}
		default:
			var para []string
			for ; i < len(lines) && strings.HasPrefix(lines[i], "  "); i++ {
				para = append(para, roff(strings.TrimSpace(lines[i])))
			}
			i--
			if len(para) == 1 && strings.HasPrefix(para[0], "s3mount ") {
				b.WriteString(".PP\n.RS\n.nf\n" + para[0] + "\n.fi\n.RE\n")
				continue
			}
			b.WriteString(".PP\n" + strings.Join(para, "\n") + "\n")
		}
	}
}

// roff escapes text for a roff line: backslashes, minus signs (so that
// options can be copied from the rendered page) and a leading dot or quote.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// No date in .TH: the page must be the same every time it is generated.
const manHeader = `.TH S3MOUNT 8 "" "s3mount" "System Administration"
.nh
.ad l
`

const manDescription = `.SH DESCRIPTION
\fBs3mount\fR mounts an S3 bucket, or a prefix of it, at \fIDIRECTORY\fR with FUSE, as a
directory that application logs can live on. Writes land in a local spool (\fB\-\-spool\-dir\fR)
at local-disk speed and are published to S3, each publication a complete snapshot of the file in
one plain object with the same key: files written with O_APPEND (logs) at most once per
\fB\-\-upload\-interval\fR and ending on a line boundary, other files when they are closed.
.PP
\fBs3mount\fR goes to the background and returns once the mount is live, or prints one sentence
and exits non-zero when it cannot mount (bucket missing, credentials refused, endpoint
unreachable, mount point missing, bad option). With \fB\-f\fR it stays in the foreground.
SIGINT or SIGTERM, or \fBumount\fR(8) of \fIDIRECTORY\fR, publish everything, then unmount.
Data that cannot be published stays in the spool and is published by the next mount with the
same spool.
`

const manTail = `.SH COMMANDS
.TP
\fBs3mount status\fR [\fB\-\-json\fR] \fIDIRECTORY\fR
Shows each open or unpublished file of the mount at \fIDIRECTORY\fR: key, unpublished bytes,
last publication, errors and drops, plus totals and the spool directory.
.TP
\fBs3mount recover\fR \fISPOOL_DIR\fR [\fB\-\-export\fR \fIOUT_DIR\fR] [\fB\-\-discard\fR \fIID\fR]
Lists what a spool directory holds that S3 does not have yet, and files whose publication was
refused because another writer changed the object; exports them to \fIOUT_DIR\fR or discards
one. Run it while no s3mount uses the spool directory.
.SH ENVIRONMENT
Credentials come from the AWS SDK's default chain: \fBAWS_ACCESS_KEY_ID\fR,
\fBAWS_SECRET_ACCESS_KEY\fR, \fBAWS_SESSION_TOKEN\fR and \fBAWS_REGION\fR, then
\fI~/.aws/credentials\fR and \fI~/.aws/config\fR (\fB\-\-profile\fR), then the ECS task role or
EC2 instance profile.
.TP
\fBAWS_MAX_ATTEMPTS\fR
How often one S3 request is tried before the operation fails (default 10). A publication that
fails is tried again later until S3 takes it.
.SH FILES
.TP
\fI/etc/fstab\fR
Entries of type \fBs3mount\fR are mounted by the \fBmount.s3mount\fR helper, e.g.
.RS
.nf
my\-bucket  /var/log/app  s3mount  _netdev,nofail,prefix=app/,allow\-delete  0 0
.fi
.RE
.TP
\fI/etc/s3mount/INSTANCE.conf\fR
Configuration of the systemd unit \fBs3mount@INSTANCE.service\fR (S3MOUNT_BUCKET,
S3MOUNT_DIR, S3MOUNT_OPTIONS and credentials).
.TP
\fI/var/lib/s3mount/\fR
Default spool directories of mounts made by root (one per bucket, prefix and mount point).
.TP
\fI/usr/share/doc/s3mount/\fR
README.md (the file contract), SERVICE.md (fstab and systemd), and more.
.SH EXIT STATUS
0 when the mount is live (with \fB\-f\fR: when it was unmounted), 1 when it cannot mount,
2 for a bad command line.
.SH SEE ALSO
\fBmount\fR(8), \fBfstab\fR(5), \fBumount\fR(8), \fBfusermount3\fR(1), \fBsystemd.unit\fR(5)
`
