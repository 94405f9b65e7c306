package config

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parse parses the command line (without the program name):
//
//	s3mount [OPTIONS] <BUCKET | s3://bucket/prefix/> <DIRECTORY>
//	s3mount <BUCKET> <DIRECTORY> -o opt=value,opt2,...   (fstab form)
//
// Options may come before, between or after the positional arguments; "--"
// ends them. Long options take "--flag value" or "--flag=value"; short ones
// "-f", "-d", "-l DIR", "-lDIR" and clusters like "-fd". Every error is one
// sentence naming the option and the bad value. With --help or --version the
// positional arguments are not required.
func Parse(args []string) (*Options, error) {
	o := &Options{
		UploadChecksums:   ChecksumCRC32C,
		DirMode:           DefaultDirMode,
		FileMode:          DefaultFileMode,
		ReadPartSize:      DefaultPartSize,
		WritePartSize:     DefaultPartSize,
		MaxThreads:        DefaultMaxThreads,
		MaxThroughputGbps: DefaultMaxThroughputGbps,
		UploadInterval:    DefaultUploadInterval,
		CloseDelay:        DefaultCloseDelay,
		BufferMode:        BufferBlocking,
		MaxBufferSize:     DefaultMaxBufferSize,
		DropMarker:        true,
		MaxEditSize:       DefaultMaxEditSize,
	}
	p := parser{o: o, set: map[string]bool{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		var err error
		switch {
		case a == "--":
			p.pos = append(p.pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			err = p.long(a, next)
		case len(a) > 1 && a[0] == '-':
			err = p.shorts(a, next)
		default:
			p.pos = append(p.pos, a)
		}
		if err != nil {
			return nil, err
		}
	}
	if p.fstabRO && p.fstabRW {
		return nil, fmt.Errorf(`fstab options "ro" and "rw" cannot be used together`)
	}
	if o.Help || o.Version {
		return o, nil
	}
	if err := finish(o, p.set, p.pos); err != nil {
		return nil, err
	}
	return o, nil
}

type parser struct {
	o                *Options
	set              map[string]bool
	pos              []string
	fstabRO, fstabRW bool
}

func (p *parser) apply(f *flagDef, v string) error {
	p.set[f.name] = true
	return f.set(p.o, v)
}

func (p *parser) long(a string, next func() (string, bool)) error {
	name, val, hasVal := strings.Cut(a[2:], "=")
	f := flagsByLong[name]
	if f == nil {
		return fmt.Errorf("unknown option --%s (see s3mount --help)", printable(name))
	}
	if f.value == "" {
		if !hasVal {
			val = "true"
		}
		return p.apply(f, val)
	}
	if !hasVal {
		var ok bool
		if val, ok = next(); !ok {
			return fmt.Errorf("option --%s needs a value %s (see s3mount --help)", name, f.value)
		}
	}
	return p.apply(f, val)
}

// mount(8) may pass these to a mount helper; they mean nothing to us.
const ignoredShorts = "nsv"

func (p *parser) shorts(a string, next func() (string, bool)) error {
	for j := 1; j < len(a); j++ {
		c := a[j]
		if strings.IndexByte(ignoredShorts, c) >= 0 {
			continue
		}
		f := flagsByShort[c]
		if c != 'o' && f == nil {
			return fmt.Errorf("unknown option -%s (see s3mount --help)", printable(a[j:j+1]))
		}
		if c != 'o' && f.value == "" {
			if err := p.apply(f, "true"); err != nil {
				return err
			}
			continue
		}
		val := strings.TrimPrefix(a[j+1:], "=")
		if val == "" {
			var ok bool
			if val, ok = next(); !ok {
				if c == 'o' {
					return fmt.Errorf("option -o needs a comma-separated list of options (see s3mount --help)")
				}
				return fmt.Errorf("option -%c needs a value %s (see s3mount --help)", c, f.value)
			}
		}
		if c == 'o' {
			return p.fstab(val)
		}
		return p.apply(f, val)
	}
	return nil
}

// Generic mount options that fstab, mount(8) or systemd add and that have no
// meaning for s3mount (nodev and nosuid are what FUSE does anyway).
var ignoredFstab = map[string]bool{
	"defaults": true, "auto": true, "noauto": true, "user": true, "nouser": true, "users": true,
	"owner": true, "group": true, "_netdev": true, "nofail": true, "exec": true, "noexec": true,
	"suid": true, "nosuid": true, "dev": true, "nodev": true, "async": true, "atime": true,
	"noatime": true, "relatime": true, "norelatime": true, "strictatime": true, "diratime": true,
	"nodiratime": true, "lazytime": true, "nolazytime": true, "silent": true, "loud": true,
}

// fstab applies "-o" options: Mountpoint's names without "--", "key=value"
// for options with a value, "ro" for --read-only.
func (p *parser) fstab(list string) error {
	opts, err := splitCommas(list)
	if err != nil {
		return err
	}
	for _, opt := range opts {
		key, val, hasVal := strings.Cut(opt, "=")
		switch {
		case opt == "":
			continue
		case strings.HasPrefix(opt, "-"):
			return fmt.Errorf("fstab option %q must not start with '-': write %s", opt, printable(strings.TrimLeft(opt, "-")))
		case ignoredFstab[key] || strings.HasPrefix(key, "x-") || key == "comment":
			continue
		case opt == "ro":
			p.fstabRO = true
			opt, key = "read-only", "read-only"
		case opt == "rw":
			p.fstabRW = true
			continue
		case key == "foreground":
			return fmt.Errorf("fstab option \"foreground\" cannot be used: mount(8) waits for s3mount to go to the background")
		}
		// fuse(8) spells its options with underscores (allow_other).
		key = strings.ReplaceAll(key, "_", "-")
		f := flagsByLong[key]
		if f == nil || f.name == "help" || f.name == "version" {
			return fmt.Errorf("unknown option %q in -o (see s3mount --help)", opt)
		}
		if f.value != "" && !hasVal {
			return fmt.Errorf("fstab option %q needs a value: write %s=%s", key, key, f.value)
		}
		if !hasVal {
			val = "true"
		}
		if err := p.apply(f, val); err != nil {
			return err
		}
	}
	return nil
}

// splitCommas splits an -o list at commas with Mountpoint's escapes: "\,"
// is a comma, "\\" a backslash and "\"" a double quote inside a value. An
// unescaped double quote or any other escape is an error (Mountpoint keeps
// quotes for a future quoting syntax). Spaces are not special here; in
// /etc/fstab itself a space is written \040, which mount(8) decodes first.
func splitCommas(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("invalid -o list %q: it ends with a lone '\\'", s)
			}
			i++
			switch s[i] {
			case ',', '\\', '"':
				cur.WriteByte(s[i])
			default:
				return nil, fmt.Errorf("invalid -o list %q: only \\, \\\\ and \\\" are escapes (found \\%s)", s, printable(s[i:i+1]))
			}
		case '"':
			return nil, fmt.Errorf("invalid -o list %q: a double quote must be escaped as \\\"", s)
		case ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String()), nil
}

// printable returns s as it is when it prints as itself on one line, else
// quoted: an error naming what the user typed must stay one line (a
// newline or an escape sequence in a value must not reach the terminal or
// the log as such).
func printable(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
