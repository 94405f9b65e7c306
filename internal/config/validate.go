package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const usageLine = "usage: s3mount [OPTIONS] <BUCKET | s3://bucket/prefix/> <DIRECTORY>"

// checkBucket applies S3's naming rules, leniently enough for local servers
// (underscores, as Mountpoint accepts them) and access point ARNs.
func checkBucket(what, name string) error {
	if strings.HasPrefix(name, "arn:") {
		if strings.ContainsAny(name, " \t\n") || strings.Count(name, ":") < 5 {
			return fmt.Errorf("invalid %s %q: expected an ARN like arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME", what, name)
		}
		return nil
	}
	if i := strings.IndexByte(name, '/'); i >= 0 {
		// The hint only when it is one a user could type as shown: a plain
		// bucket name and a non-empty prefix of printable characters.
		bucket, prefix := name[:i], strings.Trim(name[i:], "/")
		if checkBucket(what, bucket) == nil && prefix != "" && strconv.Quote(prefix) == `"`+prefix+`"` {
			return fmt.Errorf("invalid %s %q: a bucket name has no '/'; to mount a prefix use s3://%s/ or --prefix %s/",
				what, name, strings.TrimSuffix(name, "/"), prefix)
		}
		return fmt.Errorf("invalid %s %q: a bucket name has no '/'", what, name)
	}
	ok := len(name) >= 3 && len(name) <= 63
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		ok = alnum || (i > 0 && i < len(name)-1 && (c == '.' || c == '-' || c == '_'))
	}
	if !ok {
		return fmt.Errorf("invalid %s %q: expected 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", what, name)
	}
	return nil
}

// MaxPrefixLen is S3's limit on a whole key; a longer prefix leaves no room
// for a name.
const MaxPrefixLen = 1024

func checkPrefix(what, p string) error {
	if why := prefixProblem(p); why != "" {
		return fmt.Errorf("invalid value %q for %s: %s", p, what, why)
	}
	return nil
}

// prefixProblem says why p cannot be a prefix, or "". A prefix is a path
// below the bucket: "." or ".." components, "//", a leading '/' or NUL would
// make keys that are not the files the mount shows (or that other tools
// resolve outside the prefix).
func prefixProblem(p string) string {
	switch {
	case p == "":
		return ""
	case len(p) > MaxPrefixLen:
		return fmt.Sprintf("a prefix is at most %d bytes (S3's key length limit); this one has %d", MaxPrefixLen, len(p))
	case strings.IndexByte(p, 0) >= 0:
		return "a prefix cannot contain a NUL byte"
	case strings.HasPrefix(p, "/"):
		return fmt.Sprintf("a prefix does not start with '/'; use %q", strings.TrimLeft(p, "/"))
	}
	for _, c := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		switch c {
		case "":
			return "a prefix cannot have an empty component (\"//\")"
		case ".", "..":
			return fmt.Sprintf("a prefix cannot have a %q component", c)
		}
	}
	if !strings.HasSuffix(p, "/") {
		return fmt.Sprintf("a prefix must end with '/' (as in Mountpoint); use %q", p+"/")
	}
	return ""
}

// splitBucketArg turns the first positional into bucket and prefix.
func splitBucketArg(arg string) (bucket, prefix string, uri bool, err error) {
	if !strings.HasPrefix(arg, "s3://") {
		return arg, "", false, checkBucket("bucket name", arg)
	}
	rest := strings.TrimPrefix(arg, "s3://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := checkBucket("bucket name in S3 URI", bucket); err != nil {
		return "", "", true, err
	}
	if strings.HasPrefix(prefix, "/") {
		return "", "", true, fmt.Errorf("invalid S3 URI %q: the prefix does not start with '/'", arg)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") && prefixProblem(prefix+"/") == "" {
		return "", "", true, fmt.Errorf("invalid S3 URI %q: the prefix must end with '/' (as in Mountpoint); use %q", arg, arg+"/")
	}
	if why := prefixProblem(prefix); why != "" {
		return "", "", true, fmt.Errorf("invalid S3 URI %q: %s", arg, why)
	}
	return bucket, prefix, true, nil
}

func setPath(flag, v string, dst *string) error {
	if v == "" {
		return fmt.Errorf("option --%s needs a non-empty value", flag)
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return fmt.Errorf("invalid value %q for --%s: %v", v, flag, err)
	}
	*dst = abs
	return nil
}

// finish validates combinations and fills the defaults that depend on other
// options. set holds the canonical names of the flags given.
func finish(o *Options, set map[string]bool, pos []string) error {
	switch len(pos) {
	case 0:
		return fmt.Errorf("missing <BUCKET> and <DIRECTORY>; %s", usageLine)
	case 1:
		return fmt.Errorf("missing <DIRECTORY> after %q; %s", pos[0], usageLine)
	case 2:
	default:
		return fmt.Errorf("unexpected argument %q; %s", pos[2], usageLine)
	}
	bucket, prefix, uri, err := splitBucketArg(pos[0])
	if err != nil {
		return err
	}
	if uri {
		if set["prefix"] {
			return fmt.Errorf("--prefix cannot be used with an S3 URI (%s); put the prefix in the URI", pos[0])
		}
		o.Prefix = prefix
	}
	o.Bucket = bucket
	if pos[1] == "" {
		return fmt.Errorf("missing <DIRECTORY>; %s", usageLine)
	}
	if strings.HasPrefix(pos[1], "/dev/fd/") {
		o.MountPoint = pos[1]
	} else if err := setPath("", pos[1], &o.MountPoint); err != nil {
		return fmt.Errorf("invalid mount point %q: %v", pos[1], err)
	}

	for _, c := range [][2]string{
		{"part-size", "read-part-size"}, {"part-size", "write-part-size"},
		{"allow-other", "allow-root"},
		{"no-log", "log-directory"}, {"no-log", "debug"}, {"no-log", "debug-crt"}, {"no-log", "log-metrics"},
	} {
		if set[c[0]] && set[c[1]] {
			return fmt.Errorf("--%s cannot be used with --%s", c[0], c[1])
		}
	}
	if o.WritePartSize < 5<<20 || o.WritePartSize > 5<<30 {
		return fmt.Errorf("invalid write part size %s: S3 multipart parts must be between 5m and 5g", formatSize(o.WritePartSize))
	}
	if set["compress-glob"] && o.Compress == "" {
		return fmt.Errorf("--compress-glob needs --compress gzip or --compress zstd")
	}
	if o.Compress != "" && len(o.CompressGlobs) == 0 {
		o.CompressGlobs = []string{DefaultCompressGlob}
	}
	if set["max-cache-size"] && o.CacheDir == "" {
		return fmt.Errorf("--max-cache-size needs --cache DIRECTORY")
	}
	if o.SSEKMSKeyID != "" {
		if o.SSE == "" {
			return fmt.Errorf("--sse-kms-key-id needs --sse aws:kms or --sse aws:kms:dsse")
		}
		if o.SSE == "AES256" {
			return fmt.Errorf("--sse-kms-key-id cannot be used with --sse AES256")
		}
	}

	cached := o.CacheDir != "" || o.CacheXZ != ""
	if set["max-cache-size"] && o.MaxCacheSize == 0 {
		o.CacheDir = "" // Mountpoint: --max-cache-size 0 falls back to no data cache
	}
	if !set["metadata-ttl"] {
		o.MetadataTTL = Minimal
		if cached {
			o.MetadataTTL = CacheMetadataTTL
		}
	}
	if !set["negative-metadata-ttl"] {
		o.NegativeMetadataTTL = o.MetadataTTL
	}
	if o.BucketType == "" {
		o.BucketType = BucketTypeGeneralPurpose
		if strings.HasSuffix(o.Bucket, "--x-s3") {
			o.BucketType = BucketTypeDirectory
		}
	}
	if !set["uid"] {
		o.UID = uint32(os.Getuid())
	}
	if !set["gid"] {
		o.GID = uint32(os.Getgid())
	}
	if !set["memory-target"] {
		o.MemoryTarget = defaultMemoryTarget()
	}
	if !set["spool-dir"] {
		dir, err := DefaultSpoolDir(o.Bucket, o.Prefix, o.MountPoint)
		if err != nil {
			return err
		}
		o.SpoolDir = dir
	}
	for _, f := range flagTable {
		if f.notYet != "" && set[f.name] {
			o.NotYet = append(o.NotYet, fmt.Sprintf("--%s: accepted; not yet implemented: %s", f.name, f.notYet))
		}
	}
	return nil
}

// defaultMemoryTarget is Mountpoint's: 95% of RAM, at least 512 MiB.
func defaultMemoryTarget() int64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return MinMemoryTarget
	}
	total := float64(si.Totalram) * float64(si.Unit)
	return max(int64(total*0.95)&^(1<<20-1), MinMemoryTarget) // whole MiB
}

// CheckMountPoint reports, in one sentence, why o.MountPoint cannot be
// mounted on: it must be an existing directory (or a /dev/fd/N descriptor).
func (o *Options) CheckMountPoint() error {
	if strings.HasPrefix(o.MountPoint, "/dev/fd/") {
		return nil
	}
	st, err := os.Stat(o.MountPoint)
	switch {
	case os.IsNotExist(err):
		return fmt.Errorf("mount point %s does not exist; create the directory first", o.MountPoint)
	case err != nil:
		return fmt.Errorf("mount point %s cannot be used: %v", o.MountPoint, err)
	case !st.IsDir():
		return fmt.Errorf("mount point %s is not a directory", o.MountPoint)
	}
	return nil
}
