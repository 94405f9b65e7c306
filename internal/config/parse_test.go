package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, args ...string) *Options {
	t.Helper()
	o, err := Parse(args)
	if err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return o
}

// TestEveryFlag checks that each flag parses and lands in its field.
func TestEveryFlag(t *testing.T) {
	cwd, _ := os.Getwd()
	cases := []struct {
		args  []string
		check func(o *Options) bool
	}{
		{[]string{"--prefix", "logs/"}, func(o *Options) bool { return o.Prefix == "logs/" }},
		{[]string{"--region=eu-west-1"}, func(o *Options) bool { return o.Region == "eu-west-1" }},
		{[]string{"--endpoint-url", "http://127.0.0.1:9000"}, func(o *Options) bool { return o.EndpointURL == "http://127.0.0.1:9000" }},
		{[]string{"--force-path-style"}, func(o *Options) bool { return o.ForcePathStyle }},
		{[]string{"--transfer-acceleration"}, func(o *Options) bool { return o.TransferAcceleration }},
		{[]string{"--dual-stack"}, func(o *Options) bool { return o.DualStack }},
		{[]string{"--requester-pays"}, func(o *Options) bool { return o.RequesterPays }},
		{[]string{"--bucket-type", "directory"}, func(o *Options) bool { return o.BucketType == BucketTypeDirectory }},
		{[]string{"--storage-class", "STANDARD_IA"}, func(o *Options) bool { return o.StorageClass == "STANDARD_IA" }},
		{[]string{"--expected-bucket-owner", "111122223333"}, func(o *Options) bool { return o.ExpectedBucketOwner == "111122223333" }},
		{[]string{"--sse", "AES256"}, func(o *Options) bool { return o.SSE == "AES256" }},
		{[]string{"--sse", "aws:kms", "--sse-kms-key-id", "arn:aws:kms:us-east-1:1:key/abc"}, func(o *Options) bool {
			return o.SSE == "aws:kms" && o.SSEKMSKeyID == "arn:aws:kms:us-east-1:1:key/abc"
		}},
		{[]string{"--upload-checksums", "off"}, func(o *Options) bool { return o.UploadChecksums == ChecksumOff }},
		{[]string{"--no-sign-request"}, func(o *Options) bool { return o.NoSignRequest }},
		{[]string{"--profile", "dev"}, func(o *Options) bool { return o.Profile == "dev" }},
		{[]string{"--read-only"}, func(o *Options) bool { return o.ReadOnly }},
		{[]string{"--allow-delete"}, func(o *Options) bool { return o.AllowDelete }},
		{[]string{"--allow-overwrite"}, func(o *Options) bool { return o.AllowOverwrite }},
		{[]string{"--incremental-upload"}, func(o *Options) bool { return o.IncrementalUpload }},
		{[]string{"--auto-unmount"}, func(o *Options) bool { return o.AutoUnmount }},
		{[]string{"--allow-root"}, func(o *Options) bool { return o.AllowRoot }},
		{[]string{"--allow-other"}, func(o *Options) bool { return o.AllowOther }},
		{[]string{"--uid", "1001"}, func(o *Options) bool { return o.UID == 1001 }},
		{[]string{"--gid=1002"}, func(o *Options) bool { return o.GID == 1002 }},
		{[]string{"--dir-mode", "0750"}, func(o *Options) bool { return o.DirMode == 0o750 }},
		{[]string{"--file-mode", "600"}, func(o *Options) bool { return o.FileMode == 0o600 }},
		{[]string{"--maximum-throughput-gbps", "2.5"}, func(o *Options) bool { return o.MaxThroughputGbps == 2.5 }},
		{[]string{"--max-threads", "64"}, func(o *Options) bool { return o.MaxThreads == 64 }},
		{[]string{"--memory-target", "1024"}, func(o *Options) bool { return o.MemoryTarget == 1<<30 }},
		{[]string{"--max-memory-target", "2g"}, func(o *Options) bool { return o.MemoryTarget == 2<<30 }},
		{[]string{"--part-size", "16777216"}, func(o *Options) bool { return o.ReadPartSize == 16<<20 && o.WritePartSize == 16<<20 }},
		{[]string{"--read-part-size", "1m"}, func(o *Options) bool { return o.ReadPartSize == 1<<20 && o.WritePartSize == DefaultPartSize }},
		{[]string{"--write-part-size", "5MiB"}, func(o *Options) bool { return o.WritePartSize == 5<<20 && o.ReadPartSize == DefaultPartSize }},
		{[]string{"--bind", "eth0", "--bind", "eth1"}, func(o *Options) bool {
			return reflect.DeepEqual(o.Bind, []string{"eth0", "eth1"}) && len(o.NotYet) == 1 && strings.HasPrefix(o.NotYet[0], "--bind: accepted; not yet implemented")
		}},
		{[]string{"--user-agent-prefix", "app/1"}, func(o *Options) bool { return o.UserAgentPrefix == "app/1" }},
		{[]string{"--cache", "c"}, func(o *Options) bool {
			return o.CacheDir == filepath.Join(cwd, "c") && o.MetadataTTL == 60*time.Second && o.NegativeMetadataTTL == 60*time.Second
		}},
		{[]string{"--cache", "/c", "--max-cache-size", "100"}, func(o *Options) bool { return o.MaxCacheSize == 100<<20 }},
		{[]string{"--cache", "/c", "--max-cache-size", "0"}, func(o *Options) bool { return o.CacheDir == "" && o.MetadataTTL == 60*time.Second }},
		{[]string{"--cache-xz", "cache--usw2-az1--x-s3"}, func(o *Options) bool { return o.CacheXZ == "cache--usw2-az1--x-s3" && len(o.NotYet) == 1 }},
		{[]string{"--metadata-ttl", "indefinite"}, func(o *Options) bool { return o.MetadataTTL == Indefinite && o.NegativeMetadataTTL == Indefinite }},
		{[]string{"--metadata-ttl", "minimal"}, func(o *Options) bool { return o.MetadataTTL == Minimal }},
		{[]string{"--metadata-ttl", "0"}, func(o *Options) bool { return o.MetadataTTL == Minimal }},
		{[]string{"--metadata-ttl", "300", "--negative-metadata-ttl", "minimal"}, func(o *Options) bool {
			return o.MetadataTTL == 300*time.Second && o.NegativeMetadataTTL == Minimal
		}},
		{[]string{"--negative-metadata-ttl", "1500ms"}, func(o *Options) bool {
			return o.NegativeMetadataTTL == 1500*time.Millisecond && o.MetadataTTL == Minimal
		}},
		{[]string{"-l", "/var/log/s3"}, func(o *Options) bool { return o.LogDirectory == "/var/log/s3" }},
		{[]string{"-l/var/log/s3"}, func(o *Options) bool { return o.LogDirectory == "/var/log/s3" }},
		{[]string{"--log-directory=/var/log/s3"}, func(o *Options) bool { return o.LogDirectory == "/var/log/s3" }},
		{[]string{"-d"}, func(o *Options) bool { return o.Debug }},
		{[]string{"--debug"}, func(o *Options) bool { return o.Debug }},
		{[]string{"--debug-crt"}, func(o *Options) bool { return o.DebugCRT }},
		{[]string{"--log-metrics"}, func(o *Options) bool { return o.LogMetrics }},
		{[]string{"--no-log"}, func(o *Options) bool { return o.NoLog }},
		{[]string{"-f"}, func(o *Options) bool { return o.Foreground }},
		{[]string{"--foreground"}, func(o *Options) bool { return o.Foreground }},
		{[]string{"-fd"}, func(o *Options) bool { return o.Foreground && o.Debug }},
		{[]string{"--upload-interval", "10s"}, func(o *Options) bool { return o.UploadInterval == 10*time.Second }},
		{[]string{"--upload-interval", "5"}, func(o *Options) bool { return o.UploadInterval == 5*time.Second }},
		{[]string{"--upload-interval", "500ms"}, func(o *Options) bool { return o.UploadInterval == 500*time.Millisecond }},
		{[]string{"--close-delay", "0"}, func(o *Options) bool { return o.CloseDelay == 0 }},
		{[]string{"--close-delay", "1m"}, func(o *Options) bool { return o.CloseDelay == time.Minute }},
		{[]string{"--buffer-mode", "non-blocking"}, func(o *Options) bool { return o.BufferMode == BufferNonBlocking }},
		{[]string{"--max-buffer-size", "25m"}, func(o *Options) bool { return o.MaxBufferSize == 25<<20 }},
		{[]string{"--max-buffer-size", "1048576"}, func(o *Options) bool { return o.MaxBufferSize == 1<<20 }},
		{[]string{"--max-buffer-size", "1048576b"}, func(o *Options) bool { return o.MaxBufferSize == 1<<20 }},
		{[]string{"--max-buffer-size", "1.5G"}, func(o *Options) bool { return o.MaxBufferSize == 3<<29 }},
		{[]string{"--max-buffer-size", "512k"}, func(o *Options) bool { return o.MaxBufferSize == 512<<10 }},
		{[]string{"--spool-dir", "/srv/spool"}, func(o *Options) bool { return o.SpoolDir == "/srv/spool" }},
		{[]string{"--spool-sync", "always"}, func(o *Options) bool { return o.SpoolSync == SpoolSyncAlways }},
		{[]string{"--spool-sync", "interval"}, func(o *Options) bool { return o.SpoolSync == SpoolSyncInterval }},
		{[]string{"--spool-sync", "never"}, func(o *Options) bool { return o.SpoolSync == SpoolSyncNever }},
		{[]string{"--metrics-addr", "127.0.0.1:9464"}, func(o *Options) bool { return o.MetricsAddr == "127.0.0.1:9464" }},
		{[]string{"--metrics-addr", ":9464"}, func(o *Options) bool { return o.MetricsAddr == ":9464" }},
		{[]string{"--no-drop-marker"}, func(o *Options) bool { return !o.DropMarker }},
		{[]string{"--max-edit-size", "2g"}, func(o *Options) bool { return o.MaxEditSize == 2<<30 }},
		{[]string{"--max-edit-size", "0"}, func(o *Options) bool { return o.MaxEditSize == 0 }},
		{[]string{"--compress", "gzip"}, func(o *Options) bool {
			return o.Compress == CompressGzip && len(o.CompressGlobs) == 1 && o.CompressGlobs[0] == "*.log"
		}},
		{[]string{"--compress=zstd", "--compress-glob", "*.txt", "--compress-glob=access*"}, func(o *Options) bool {
			return o.Compress == CompressZstd && len(o.CompressGlobs) == 2 && o.CompressGlobs[1] == "access*"
		}},
		{nil, func(o *Options) bool { return o.Compress == "" && o.CompressGlobs == nil }},
	}
	// Compression works on directory buckets too (sizes in trailers).
	if o := mustParse(t, "b--use1-az4--x-s3", "/m", "--compress", "zstd"); o.Compress != CompressZstd || o.BucketType != BucketTypeDirectory {
		t.Errorf("--compress on a directory bucket: %+v", *o)
	}
	for _, c := range cases {
		args := append([]string{"my-bucket", "/mnt/s3"}, c.args...)
		o := mustParse(t, args...)
		if !c.check(o) {
			t.Errorf("Parse(%q) = %+v: check failed", args, *o)
		}
	}
}

func TestDefaults(t *testing.T) {
	o := mustParse(t, "my-bucket", "/mnt/s3")
	want := Options{
		Bucket: "my-bucket", MountPoint: "/mnt/s3", BucketType: BucketTypeGeneralPurpose,
		UploadChecksums: ChecksumCRC32C, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		DirMode: 0o755, FileMode: 0o644, ReadPartSize: 8 << 20, WritePartSize: 8 << 20,
		MaxThreads: 16, MaxThroughputGbps: 10, MemoryTarget: o.MemoryTarget,
		MetadataTTL: Minimal, NegativeMetadataTTL: Minimal,
		UploadInterval: 30 * time.Second, CloseDelay: time.Second, BufferMode: BufferBlocking,
		MaxBufferSize: 1 << 30, SpoolDir: o.SpoolDir, DropMarker: true, MaxEditSize: 1 << 30,
	}
	if !reflect.DeepEqual(*o, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *o, want)
	}
	if o.MemoryTarget < MinMemoryTarget || o.MemoryTarget%(1<<20) != 0 {
		t.Errorf("MemoryTarget = %d, want whole MiB >= 512 MiB", o.MemoryTarget)
	}
	if mustParse(t, "b--use1-az4--x-s3", "/m").BucketType != BucketTypeDirectory {
		t.Errorf("an Express bucket name should infer --bucket-type directory")
	}
}

func TestPositionalForms(t *testing.T) {
	cwd, _ := os.Getwd()
	cases := []struct {
		args                       []string
		bucket, prefix, mountPoint string
	}{
		{[]string{"b-1", "/m"}, "b-1", "", "/m"},
		{[]string{"s3://b-1", "/m"}, "b-1", "", "/m"},
		{[]string{"s3://b-1/", "/m"}, "b-1", "", "/m"},
		{[]string{"s3://b-1/logs/nginx/", "/m"}, "b-1", "logs/nginx/", "/m"},
		{[]string{"-f", "b-1", "--prefix", "p/", "rel/dir"}, "b-1", "p/", filepath.Join(cwd, "rel/dir")},
		{[]string{"b-1", "/m", "--", "extra"}, "", "", ""}, // a third positional is an error
		{[]string{"--", "b-1", "-dir"}, "b-1", "", filepath.Join(cwd, "-dir")},
		{[]string{"b-1", "/dev/fd/3"}, "b-1", "", "/dev/fd/3"},
		{[]string{"arn:aws:s3:us-east-1:111122223333:accesspoint/ap", "/m"}, "arn:aws:s3:us-east-1:111122223333:accesspoint/ap", "", "/m"},
		{[]string{"demo_s3_bucket", "/m"}, "demo_s3_bucket", "", "/m"},
	}
	for _, c := range cases {
		o, err := Parse(c.args)
		if c.bucket == "" {
			if err == nil {
				t.Errorf("Parse(%q) should fail", c.args)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.args, err)
			continue
		}
		if o.Bucket != c.bucket || o.Prefix != c.prefix || o.MountPoint != c.mountPoint {
			t.Errorf("Parse(%q) = bucket %q prefix %q mount %q, want %q %q %q", c.args, o.Bucket, o.Prefix, o.MountPoint, c.bucket, c.prefix, c.mountPoint)
		}
	}
}

func TestFstabForm(t *testing.T) {
	o := mustParse(t, "demo-bucket", "/mnt/test", "-o", `prefix=foo/bar\,baz/,_netdev,uid=2,ro,nofail,x-systemd.automount,allow_other,metadata-ttl=60,defaults,noauto,user,nouser,exec,noexec,suid,nosuid,dev,nodev,auto,max-buffer-size=25m,buffer-mode=non-blocking`)
	if o.Prefix != "foo/bar,baz/" || o.UID != 2 || !o.ReadOnly || !o.AllowOther || o.MetadataTTL != time.Minute ||
		o.MaxBufferSize != 25<<20 || o.BufferMode != BufferNonBlocking || o.Foreground {
		t.Errorf("fstab form parsed to %+v", *o)
	}
	// Options may come before the positionals too, and "rw" alone is accepted.
	o = mustParse(t, "-o", "rw,cache=/c\\\\d\\\"e,debug", "demo-bucket", "/mnt/test")
	if o.ReadOnly || o.CacheDir != `/c\d"e` || !o.Debug {
		t.Errorf("fstab form parsed to %+v", *o)
	}
	o = mustParse(t, "-oro", "s3://demo-bucket/p/", "/mnt/test", "-n", "-s", "-v")
	if !o.ReadOnly || o.Prefix != "p/" {
		t.Errorf("-oro parsed to %+v", *o)
	}
}

func TestSplitCommas(t *testing.T) {
	cases := []struct {
		in   string
		want []string // nil = error
	}{
		{"no commas", []string{"no commas"}},
		{"simple,case", []string{"simple", "case"}},
		{`comma\,escape`, []string{"comma,escape"}},
		{`a,\,,c`, []string{"a", ",", "c"}},
		{`a,\,\",d`, []string{"a", `,"`, "d"}},
		{`\"`, []string{`"`}},
		{`ends,with,\`, nil},
		{`random,"quotes"`, nil},
		{`\e\scaped,\w\rong`, nil},
		{"£,🎡", []string{"£", "🎡"}},
	}
	for _, c := range cases {
		got, err := splitCommas(c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("splitCommas(%q) = %q, want an error", c.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitCommas(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// TestErrors checks that each malformed input gives its one sentence.
func TestErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "missing <BUCKET> and <DIRECTORY>; usage: s3mount [OPTIONS] <BUCKET | s3://bucket/prefix/> <DIRECTORY>"},
		{[]string{"b-1"}, `missing <DIRECTORY> after "b-1"; usage: s3mount`},
		{[]string{"b-1", "/m", "extra"}, `unexpected argument "extra"; usage:`},
		{[]string{"b-1", "/m", "--foo"}, "unknown option --foo (see s3mount --help)"},
		{[]string{"b-1", "/m", "-x"}, "unknown option -x (see s3mount --help)"},
		{[]string{"b-1", "/m", "--region"}, "option --region needs a value REGION (see s3mount --help)"},
		{[]string{"b-1", "/m", "--region="}, "option --region needs a non-empty value"},
		{[]string{"b-1", "/m", "-l"}, "option -l needs a value DIRECTORY"},
		{[]string{"b-1", "/m", "-o"}, "option -o needs a comma-separated list"},
		{[]string{"b-1", "/m", "--read-only=maybe"}, `option --read-only takes no value (got "maybe")`},
		{[]string{"b-1", "/m", "--max-buffer-size", "abc"}, `invalid value "abc" for --max-buffer-size: expected a size like 25m or 1g`},
		{[]string{"b-1", "/m", "--max-buffer-size", "0"}, `invalid value "0" for --max-buffer-size: expected a size of at least 1b`},
		{[]string{"b-1", "/m", "--max-buffer-size", "1q"}, `invalid value "1q" for --max-buffer-size`},
		{[]string{"b-1", "/m", "--max-buffer-size", "99999999999t"}, `invalid value "99999999999t" for --max-buffer-size`},
		{[]string{"b-1", "/m", "--max-edit-size", "-1"}, `invalid value "-1" for --max-edit-size`},
		{[]string{"b-1", "/m", "--part-size", "x"}, `invalid value "x" for --part-size: expected a size like 25m or 1g`},
		{[]string{"b-1", "/m", "--write-part-size", "1m"}, "invalid write part size 1m: S3 multipart parts must be between 5m and 5g"},
		{[]string{"b-1", "/m", "--memory-target", "lots"}, `invalid value "lots" for --memory-target: expected a size in MiB like 512`},
		{[]string{"b-1", "/m", "--cache", "/c", "--max-cache-size", "-5"}, `invalid value "-5" for --max-cache-size`},
		{[]string{"b-1", "/m", "--upload-interval", "abc"}, `invalid value "abc" for --upload-interval: expected a duration like 30s, 1m or 500ms`},
		{[]string{"b-1", "/m", "--upload-interval", "0"}, `invalid value "0" for --upload-interval: expected a positive duration`},
		{[]string{"b-1", "/m", "--close-delay", "-1s"}, `invalid value "-1s" for --close-delay: expected a duration`},
		{[]string{"b-1", "/m", "--metadata-ttl", "forever"}, `invalid value "forever" for --metadata-ttl: expected a number of seconds (at most 100 years), "minimal" or "indefinite"`},
		{[]string{"b-1", "/m", "--negative-metadata-ttl", "4000000000"}, `invalid value "4000000000" for --negative-metadata-ttl`},
		{[]string{"b-1", "/m", "--uid", "bob"}, `invalid value "bob" for --uid: expected a numeric id like 1000`},
		{[]string{"b-1", "/m", "--gid", "-1"}, `invalid value "-1" for --gid`},
		{[]string{"b-1", "/m", "--uid", "4294967295"}, `invalid value "4294967295" for --uid`},
		{[]string{"b-1", "/m", "--dir-mode", "0789"}, `invalid value "0789" for --dir-mode: expected octal permission bits like 0755 (at most 0777)`},
		{[]string{"b-1", "/m", "--file-mode", "1777"}, `invalid value "1777" for --file-mode`},
		{[]string{"b-1", "/m", "--max-threads", "0"}, `invalid value "0" for --max-threads: expected a whole number of at least 1`},
		{[]string{"b-1", "/m", "--maximum-throughput-gbps", "fast"}, `invalid value "fast" for --maximum-throughput-gbps: expected a positive number`},
		{[]string{"b-1", "/m", "--maximum-throughput-gbps", "0"}, `invalid value "0" for --maximum-throughput-gbps`},
		{[]string{"b-1", "/m", "--buffer-mode", "lossy"}, `invalid value "lossy" for --buffer-mode: expected one of blocking, non-blocking`},
		{[]string{"b-1", "/m", "--spool-sync", "sometimes"}, `invalid value "sometimes" for --spool-sync: expected one of always, interval, never`},
		{[]string{"b-1", "/m", "--upload-checksums", "md5"}, `invalid value "md5" for --upload-checksums: expected one of crc32c, off`},
		{[]string{"b-1", "/m", "--bucket-type", "x"}, `invalid value "x" for --bucket-type`},
		{[]string{"b-1", "/m", "--sse", "rot13"}, `invalid value "rot13" for --sse: expected one of aws:kms, aws:kms:dsse, AES256`},
		{[]string{"b-1", "/m", "--sse", "aws:kms", "--sse-kms-key-id", "alias/x"}, `invalid value "alias/x" for --sse-kms-key-id`},
		{[]string{"b-1", "/m", "--sse-kms-key-id", "arn:aws:kms:r:1:key/x"}, "--sse-kms-key-id needs --sse aws:kms"},
		{[]string{"b-1", "/m", "--sse", "AES256", "--sse-kms-key-id", "arn:aws:kms:r:1:key/x"}, "--sse-kms-key-id cannot be used with --sse AES256"},
		{[]string{"b-1", "/m", "--metrics-addr", "localhost"}, `invalid value "localhost" for --metrics-addr: expected an address like 127.0.0.1:9464`},
		{[]string{"b-1", "/m", "--prefix", "logs"}, `invalid value "logs" for --prefix: a prefix must end with '/' (as in Mountpoint); use "logs/"`},
		{[]string{"b-1", "/m", "--prefix", "/logs/"}, `invalid value "/logs/" for --prefix: a prefix does not start with '/'`},
		{[]string{"s3://b-1/logs", "/m"}, `invalid S3 URI "s3://b-1/logs": the prefix must end with '/' (as in Mountpoint); use "s3://b-1/logs/"`},
		{[]string{"s3://b-1/p/", "/m", "--prefix", "q/"}, "--prefix cannot be used with an S3 URI"},
		{[]string{"s3://B/", "/m"}, `invalid bucket name in S3 URI "B"`},
		{[]string{"My-Bucket", "/m"}, `invalid bucket name "My-Bucket": expected 3 to 63 lowercase letters, digits, dots and hyphens`},
		{[]string{"ab", "/m"}, `invalid bucket name "ab"`},
		{[]string{"-ab", "/m"}, "unknown option -a"},
		{[]string{"ab-", "/m"}, `invalid bucket name "ab-"`},
		{[]string{strings.Repeat("a", 64), "/m"}, "invalid bucket name"},
		{[]string{"bucket/logs", "/m"}, `invalid bucket name "bucket/logs": a bucket name has no '/'; to mount a prefix use s3://bucket/logs/ or --prefix logs/`},
		{[]string{"b-1", "/m", "--cache-xz", "Bad"}, `invalid --cache-xz "Bad"`},
		{[]string{"b-1", "/m", "--part-size", "16m", "--write-part-size", "16m"}, "--part-size cannot be used with --write-part-size"},
		{[]string{"b-1", "/m", "--allow-other", "--allow-root"}, "--allow-other cannot be used with --allow-root"},
		{[]string{"b-1", "/m", "--compress-glob", "*.log"}, "--compress-glob needs --compress"},
		{[]string{"b-1", "/m", "--compress", "lz4"}, "invalid value \"lz4\" for --compress"},
		{[]string{"b-1", "/m", "--compress", "gzip", "--compress-glob", "*.[[:digit:]]"}, "invalid --compress-glob"},
		{[]string{"b-1", "/m", "--no-log", "--debug"}, "--no-log cannot be used with --debug"},
		{[]string{"b-1", "/m", "--no-log", "-l", "/l"}, "--no-log cannot be used with --log-directory"},
		{[]string{"b-1", "/m", "--no-log", "--log-metrics"}, "--no-log cannot be used with --log-metrics"},
		{[]string{"b-1", "/m", "--max-cache-size", "10"}, "--max-cache-size needs --cache DIRECTORY"},
		{[]string{"b-1", "/m", "-o", "--uid=2"}, `fstab option "--uid=2" must not start with '-': write uid=2`},
		{[]string{"b-1", "/m", "-o", "ro,rw"}, `fstab options "ro" and "rw" cannot be used together`},
		{[]string{"b-1", "/m", "-o", "foreground"}, `fstab option "foreground" cannot be used`},
		{[]string{"b-1", "/m", "-o", "typo"}, `unknown option "typo" in -o (see s3mount --help)`},
		{[]string{"b-1", "/m", "-o", "help"}, `unknown option "help" in -o`},
		{[]string{"b-1", "/m", "-o", "cache"}, `fstab option "cache" needs a value: write cache=DIRECTORY`},
		{[]string{"b-1", "/m", "-o", `cache="x"`}, `invalid -o list "cache=\"x\"": a double quote must be escaped as \"`},
		{[]string{"b-1", "/m", "-o", `a\`}, `invalid -o list "a\\": it ends with a lone '\'`},
		{[]string{"b-1", "/m", "-o", `a\b`}, `invalid -o list "a\\b": only \, \\ and \" are escapes (found \b)`},
		{[]string{"b-1", "/m", "-o", "uid=x"}, `invalid value "x" for --uid`},
	}
	for _, c := range cases {
		_, err := Parse(c.args)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", c.args, c.want)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, c.want) {
			t.Errorf("Parse(%q) error:\n got %q\nwant %q...", c.args, msg, c.want)
		}
		if strings.Count(strings.TrimSuffix(msg, "."), "\n") != 0 {
			t.Errorf("Parse(%q) error is not one line: %q", c.args, msg)
		}
	}
}

func TestHelpAndVersionNeedNoPositionals(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-V"}, {"--version"}} {
		o := mustParse(t, args...)
		if !o.Help && !o.Version {
			t.Errorf("Parse(%q) set neither Help nor Version", args)
		}
	}
}

// TestRoundTrip checks Parse(o.Args()) == o over many option sets.
func TestRoundTrip(t *testing.T) {
	sets := [][]string{
		{"b-1", "/m"},
		{"s3://b-1/logs/app/", "rel dir", "-fd", "-l", "logs"},
		{"b-1", "/m", "-o", `prefix=a\,b/,ro,uid=7,gid=8,allow_other`},
		{"b-1", "/m", "--cache", "/c", "--max-cache-size", "300", "--negative-metadata-ttl", "1500ms"},
		{"b-1", "/m", "--cache", "/c", "--max-cache-size", "0"},
		{"b-1", "/m", "--metadata-ttl", "indefinite", "--memory-target", "1023", "--part-size", "10000000"},
		{"b-1", "/m", "--read-part-size", "1", "--write-part-size", "5m", "--max-threads", "3", "--maximum-throughput-gbps", "2.5"},
		{"b-1", "/m", "--bind", "eth0", "--bind", "eth1", "--cache-xz", "c--usw2-az1--x-s3", "--debug-crt"},
		{"b-1", "/m", "--region", "r", "--endpoint-url", "http://127.0.0.1:1", "--force-path-style", "--transfer-acceleration",
			"--dual-stack", "--requester-pays", "--bucket-type", "directory", "--storage-class", "GLACIER_IR",
			"--expected-bucket-owner", "1", "--sse", "aws:kms", "--sse-kms-key-id", "arn:aws:kms:r:1:key/k",
			"--upload-checksums", "off", "--no-sign-request", "--profile", "p", "--read-only", "--allow-delete",
			"--allow-overwrite", "--incremental-upload", "--auto-unmount", "--allow-root", "--dir-mode", "700",
			"--file-mode", "0", "--user-agent-prefix", "ua x", "--log-metrics"},
		{"b-1", "/m", "--no-log", "--upload-interval", "1500ms", "--close-delay", "0", "--buffer-mode", "non-blocking",
			"--max-buffer-size", "1234567", "--spool-dir", "sp", "--spool-sync", "interval", "--metrics-addr", "127.0.0.1:9464",
			"--no-drop-marker", "--max-edit-size", "0"},
		{"--", "b-1", "-weird-dir"}, // a mount point that looks like an option survives "--"
	}
	for _, args := range sets {
		o := mustParse(t, args...)
		again := mustParse(t, o.Args()...)
		if !reflect.DeepEqual(o, again) {
			t.Errorf("round trip of %q via %q:\n got %+v\nwant %+v", args, o.Args(), *again, *o)
		}
	}
}

func TestMountIDAndSpoolDir(t *testing.T) {
	a := MountID("logs", "nginx/access/", "/var/log/nginx")
	if a != MountID("logs", "nginx/access/", "/var/log/nginx") {
		t.Fatalf("MountID is not stable")
	}
	if !strings.HasPrefix(a, "logs-nginx-access-") || len(a) != len("logs-nginx-access-")+12 {
		t.Errorf("MountID = %q, want logs-nginx-access-<12 hex>", a)
	}
	for _, other := range []string{
		MountID("logs", "nginx/access/", "/var/log/other"),
		MountID("logs", "nginx/", "/var/log/nginx"),
		MountID("logs2", "nginx/access/", "/var/log/nginx"),
	} {
		if other == a {
			t.Errorf("MountID collision: %q", a)
		}
	}
	if id := MountID(strings.Repeat("b", 63), strings.Repeat("p/", 40), "/m"); len(id) > 53 {
		t.Errorf("MountID too long: %q", id)
	}

	dir, err := DefaultSpoolDir("logs", "", "/m")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if dir != "/var/lib/s3mount/"+MountID("logs", "", "/m") {
			t.Errorf("root spool dir = %q", dir)
		}
	} else {
		t.Setenv("XDG_STATE_HOME", "/state")
		dir, _ = DefaultSpoolDir("logs", "", "/m")
		if dir != "/state/s3mount/"+MountID("logs", "", "/m") {
			t.Errorf("spool dir with XDG_STATE_HOME = %q", dir)
		}
	}
	o := mustParse(t, "logs", "/m")
	if o.SpoolDir != dir {
		t.Errorf("Parse spool dir = %q, want %q", o.SpoolDir, dir)
	}
}

func TestCheckMountPoint(t *testing.T) {
	d := t.TempDir()
	f := filepath.Join(d, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		d:                     "",
		f:                     "is not a directory",
		filepath.Join(d, "x"): "does not exist",
		"/dev/fd/3":           "",
	} {
		err := (&Options{MountPoint: path}).CheckMountPoint()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckMountPoint(%q) = %v, want %q", path, err, want)
		}
	}
}

// TestUsageListsEveryFlag keeps --help the complete option reference.
func TestUsageListsEveryFlag(t *testing.T) {
	u := Usage()
	for _, f := range flagTable {
		if !strings.Contains(u, "--"+f.name) {
			t.Errorf("Usage() does not list --%s", f.name)
		}
		if f.def != "" && !strings.Contains(strings.Join(strings.Fields(u), " "), "[default: "+f.def+"]") {
			t.Errorf("Usage() does not show the default of --%s", f.name)
		}
	}
	for _, heading := range groupOrder {
		if !strings.Contains(u, "\n"+heading+":\n") {
			t.Errorf("Usage() lacks the %q heading", heading)
		}
	}
	for _, line := range strings.Split(u, "\n") {
		if len(line) > 100 {
			t.Errorf("Usage() line longer than 100 columns: %q", line)
		}
	}
}
