package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/s3mount/s3mount/internal/compress"
)

// Help groups, in --help order (Mountpoint's headings, then ours).
const (
	grpGeneral = "Options"
	grpBucket  = "Bucket options"
	grpCreds   = "AWS credentials options"
	grpMount   = "Mount options"
	grpClient  = "Client options"
	grpCache   = "Caching options"
	grpLog     = "Logging options"
	grpAdv     = "Advanced options"
	grpOurs    = "s3mount log options"
)

var groupOrder = []string{grpGeneral, grpBucket, grpCreds, grpMount, grpClient, grpCache, grpLog, grpAdv, grpOurs}

// flagDef is one option. The table below drives parsing, --help and Args.
type flagDef struct {
	name    string   // long name without "--"
	aliases []string // other long names accepted
	short   byte     // 0 = none
	value   string   // value placeholder in --help; "" = boolean flag
	group   string
	help    string
	def     string // default shown in --help; "" = none shown
	notYet  string // non-empty: accepted, feature not implemented yet
	set     func(o *Options, v string) error
	// emit returns the flag's canonical values for Args; nil = omit.
	// Boolean flags return []string{""} when set.
	emit func(o *Options) []string
}

func boolFlag(name string, short byte, group, help string, p func(*Options) *bool) *flagDef {
	return &flagDef{
		name: name, short: short, group: group, help: help,
		set: func(o *Options, v string) error {
			b, err := parseBool(name, v)
			*p(o) = b
			return err
		},
		emit: func(o *Options) []string {
			if *p(o) {
				return []string{""}
			}
			return nil
		},
	}
}

func stringFlag(name, value, group, help, def string, p func(*Options) *string) *flagDef {
	return &flagDef{
		name: name, value: value, group: group, help: help, def: def,
		set: func(o *Options, v string) error {
			if v == "" {
				return fmt.Errorf("option --%s needs a non-empty value", name)
			}
			*p(o) = v
			return nil
		},
		emit: func(o *Options) []string {
			if *p(o) == "" {
				return nil
			}
			return []string{*p(o)}
		},
	}
}

func one(s string) []string { return []string{s} }

var flagTable = []*flagDef{
	boolFlag("foreground", 'f', grpGeneral, "Run as foreground process", func(o *Options) *bool { return &o.Foreground }),
	boolFlag("help", 'h', grpGeneral, "Print help", func(o *Options) *bool { return &o.Help }),
	boolFlag("version", 'V', grpGeneral, "Print version", func(o *Options) *bool { return &o.Version }),

	// Bucket options.
	{name: "prefix", value: "PREFIX", group: grpBucket,
		help: "Prefix inside the bucket to mount, ending in '/'", def: "mount the entire bucket",
		set: func(o *Options, v string) error {
			if err := checkPrefix("--prefix", v); err != nil {
				return err
			}
			o.Prefix = v
			return nil
		},
		emit: func(o *Options) []string {
			if o.Prefix == "" {
				return nil
			}
			return one(o.Prefix)
		}},
	stringFlag("region", "REGION", grpBucket, "AWS region of the bucket", "auto-detect region", func(o *Options) *string { return &o.Region }),
	stringFlag("endpoint-url", "ENDPOINT_URL", grpBucket, "S3 endpoint URL", "auto-detect endpoint", func(o *Options) *string { return &o.EndpointURL }),
	boolFlag("force-path-style", 0, grpBucket, "Force path-style addressing", func(o *Options) *bool { return &o.ForcePathStyle }),
	boolFlag("transfer-acceleration", 0, grpBucket, "Use S3 Transfer Acceleration when accessing S3. This must be enabled on the bucket.", func(o *Options) *bool { return &o.TransferAcceleration }),
	boolFlag("dual-stack", 0, grpBucket, "Use dual-stack endpoints when accessing S3", func(o *Options) *bool { return &o.DualStack }),
	boolFlag("requester-pays", 0, grpBucket, "Set the 'x-amz-request-payer' to 'requester' on S3 requests", func(o *Options) *bool { return &o.RequesterPays }),
	{name: "bucket-type", value: "BUCKET_TYPE", group: grpBucket,
		help: "Type of S3 bucket to use: general-purpose or directory", def: "inferred from bucket name",
		set: func(o *Options, v string) (err error) {
			o.BucketType, err = parseChoice("bucket-type", v, BucketTypeGeneralPurpose, BucketTypeDirectory)
			return
		},
		emit: func(o *Options) []string {
			if o.BucketType == "" {
				return nil
			}
			return one(o.BucketType)
		}},
	stringFlag("storage-class", "STORAGE_CLASS", grpBucket, "Set the storage class for new objects", "", func(o *Options) *string { return &o.StorageClass }),
	stringFlag("expected-bucket-owner", "AWS_ACCOUNT_ID", grpBucket, "Account ID of the expected bucket owner. If the bucket is owned by a different account, S3 requests fail with an access denied error.", "", func(o *Options) *string { return &o.ExpectedBucketOwner }),
	{name: "sse", value: "SSE", group: grpBucket,
		help: "Server-side encryption algorithm to use when uploading new objects: aws:kms, aws:kms:dsse or AES256",
		set: func(o *Options, v string) (err error) {
			o.SSE, err = parseChoice("sse", v, "aws:kms", "aws:kms:dsse", "AES256")
			return
		},
		emit: func(o *Options) []string {
			if o.SSE == "" {
				return nil
			}
			return one(o.SSE)
		}},
	{name: "sse-kms-key-id", value: "AWS_KMS_KEY_ARN", group: grpBucket,
		help: "AWS Key Management Service (KMS) key ARN to use with KMS server-side encryption when uploading new objects. Key ID, Alias and Alias ARN are not supported.",
		set: func(o *Options, v string) error {
			if !strings.HasPrefix(v, "arn:") || !strings.Contains(v, ":key") {
				return badValue("sse-kms-key-id", v, "a KMS key ARN like arn:aws:kms:REGION:ACCOUNT:key/ID")
			}
			o.SSEKMSKeyID = v
			return nil
		},
		emit: func(o *Options) []string {
			if o.SSEKMSKeyID == "" {
				return nil
			}
			return one(o.SSEKMSKeyID)
		}},
	{name: "upload-checksums", value: "ALGORITHM", group: grpBucket,
		help: "Checksum algorithm to use for S3 uploads: crc32c or off", def: ChecksumCRC32C,
		set: func(o *Options, v string) (err error) {
			o.UploadChecksums, err = parseChoice("upload-checksums", v, ChecksumCRC32C, ChecksumOff)
			return
		},
		emit: func(o *Options) []string { return one(o.UploadChecksums) }},

	// AWS credentials options.
	boolFlag("no-sign-request", 0, grpCreds, "Do not sign requests. Credentials will not be loaded if this argument is provided.", func(o *Options) *bool { return &o.NoSignRequest }),
	stringFlag("profile", "PROFILE", grpCreds, "Use a specific profile from your credential file.", "", func(o *Options) *string { return &o.Profile }),

	// Mount options.
	boolFlag("read-only", 0, grpMount, "Mount file system in read-only mode", func(o *Options) *bool { return &o.ReadOnly }),
	boolFlag("allow-delete", 0, grpMount, "Allow delete operations on file system (unlink, rmdir, rename)", func(o *Options) *bool { return &o.AllowDelete }),
	boolFlag("allow-overwrite", 0, grpMount, "Allow overwrite operations on file system (replacing or editing existing bytes; appends never need it)", func(o *Options) *bool { return &o.AllowOverwrite }),
	boolFlag("incremental-upload", 0, grpMount, "Accepted for Mountpoint compatibility; appending to existing objects is always enabled in s3mount", func(o *Options) *bool { return &o.IncrementalUpload }),
	boolFlag("auto-unmount", 0, grpMount, "Automatically unmount on exit", func(o *Options) *bool { return &o.AutoUnmount }),
	boolFlag("no-posix-metadata", 0, grpMount, "Do not store files' mode, owner and mtime with their objects (user metadata x-amz-meta-mode/uid/gid/mtime, as s3fs does); chmod, chown and utimes then last for the mount's life", func(o *Options) *bool { return &o.NoPosixMetadata }),
	boolFlag("no-symlink-probe", 0, grpMount, "Do not HEAD each listed object of at most 4 KiB to learn whether it is a symlink, FIFO or device node (a listing carries no metadata): a listing of many small objects then costs no request per object, and such objects show as regular files until looked up by name after --metadata-ttl", func(o *Options) *bool { return &o.NoSymlinkProbe }),
	boolFlag("no-passthrough", 0, grpMount, "Serve every read through the daemon: without it, a file whose bytes are all in the spool (a log being written, read by tail or grep), and an object whose bytes are all in the --cache (on a read-write mount, with the cache on the spool's file system), is read by the kernel from that local file directly (FUSE passthrough, when the kernel and privileges allow; the log says which at mount)", func(o *Options) *bool { return &o.NoPassthrough }),
	boolFlag("allow-root", 0, grpMount, "Allow root user to access file system", func(o *Options) *bool { return &o.AllowRoot }),
	boolFlag("allow-other", 0, grpMount, "Allow other users, including root, to access file system", func(o *Options) *bool { return &o.AllowOther }),
	{name: "uid", value: "UID", group: grpMount, help: "Owner UID", def: "current user's UID",
		set: func(o *Options, v string) (err error) {
			o.UID, err = parseID("uid", v)
			return
		},
		emit: func(o *Options) []string { return one(strconv.FormatUint(uint64(o.UID), 10)) }},
	{name: "gid", value: "GID", group: grpMount, help: "Owner GID", def: "current user's GID",
		set: func(o *Options, v string) (err error) {
			o.GID, err = parseID("gid", v)
			return
		},
		emit: func(o *Options) []string { return one(strconv.FormatUint(uint64(o.GID), 10)) }},
	{name: "dir-mode", value: "DIR_MODE", group: grpMount, help: "Directory permissions, octal", def: "0755",
		set: func(o *Options, v string) (err error) {
			o.DirMode, err = parseMode("dir-mode", v)
			return
		},
		emit: func(o *Options) []string { return one(fmt.Sprintf("%04o", uint32(o.DirMode))) }},
	{name: "file-mode", value: "FILE_MODE", group: grpMount, help: "File permissions, octal", def: "0644",
		set: func(o *Options, v string) (err error) {
			o.FileMode, err = parseMode("file-mode", v)
			return
		},
		emit: func(o *Options) []string { return one(fmt.Sprintf("%04o", uint32(o.FileMode))) }},

	// Client options.
	{name: "maximum-throughput-gbps", value: "N", group: grpClient,
		help: "Maximum throughput in Gbps", def: "10",
		set: func(o *Options, v string) (err error) {
			o.MaxThroughputGbps, err = parsePositiveFloat("maximum-throughput-gbps", v)
			return
		},
		emit: func(o *Options) []string { return one(strconv.FormatFloat(o.MaxThroughputGbps, 'g', -1, 64)) }},
	{name: "max-threads", value: "N", group: grpClient,
		help: "Maximum number of concurrent FUSE requests", def: "16",
		set: func(o *Options, v string) (err error) {
			o.MaxThreads, err = parsePositiveInt("max-threads", v)
			return
		},
		emit: func(o *Options) []string { return one(strconv.Itoa(o.MaxThreads)) }},
	{name: "memory-target", aliases: []string{"max-memory-target"}, value: "MiB", group: grpClient,
		help: "Maximum memory usage target for reading (read-ahead budget). A bare number is MiB, as in Mountpoint's --max-memory-target; units like 2g are accepted",
		def:  "95% of total system memory with a minimum of 512 MiB",
		set: func(o *Options, v string) (err error) {
			o.MemoryTarget, err = sizeMiB("memory-target", v, 1)
			return
		},
		emit: func(o *Options) []string { return one(formatSize(o.MemoryTarget)) }},
	{name: "part-size", value: "SIZE", group: grpClient,
		help: "Part size for multi-part GET and PUT; sets both --read-part-size and --write-part-size. A bare number is bytes, as in Mountpoint; units like 8m are accepted",
		def:  "8388608 (8 MiB)",
		set: func(o *Options, v string) error {
			n, err := sizeBytes("part-size", v, 1)
			o.ReadPartSize, o.WritePartSize = n, n
			return err
		},
		emit: func(*Options) []string { return nil }}, // Args emits the two sizes instead
	{name: "read-part-size", value: "SIZE", group: grpClient,
		help: "Part size for GET; a bare number is bytes", def: "8388608 (8 MiB)",
		set: func(o *Options, v string) (err error) {
			o.ReadPartSize, err = sizeBytes("read-part-size", v, 1)
			return
		},
		emit: func(o *Options) []string { return one(formatSize(o.ReadPartSize)) }},
	{name: "write-part-size", value: "SIZE", group: grpClient,
		help: "Part size for multi-part PUT; a bare number is bytes", def: "8388608 (8 MiB)",
		set: func(o *Options, v string) (err error) {
			o.WritePartSize, err = sizeBytes("write-part-size", v, 1)
			return
		},
		emit: func(o *Options) []string { return one(formatSize(o.WritePartSize)) }},
	{name: "bind", value: "NETWORK_INTERFACE", group: grpClient,
		help:   "Network interface to use when accessing S3; repeat for several",
		notYet: "binding S3 connections to network interfaces",
		set: func(o *Options, v string) error {
			if v == "" {
				return fmt.Errorf("option --bind needs a non-empty value")
			}
			o.Bind = append(o.Bind, v)
			return nil
		},
		emit: func(o *Options) []string { return o.Bind }},

	// Caching options.
	{name: "cache", value: "DIRECTORY", group: grpCache,
		help: "Enable caching of object content to the given directory and set metadata TTL to 60 seconds",
		set:  func(o *Options, v string) error { return setPath("cache", v, &o.CacheDir) },
		emit: func(o *Options) []string {
			if o.CacheDir == "" {
				return nil
			}
			return one(o.CacheDir)
		}},
	{name: "metadata-ttl", value: "SECONDS|indefinite|minimal", group: grpCache,
		help: "Time-to-live (TTL) for cached metadata. A bare number is seconds; durations like 1m are accepted",
		def:  "minimal, or 60 seconds if --cache is set",
		set: func(o *Options, v string) (err error) {
			o.MetadataTTL, err = parseTTL("metadata-ttl", v)
			return
		},
		emit: func(o *Options) []string { return one(formatTTL(o.MetadataTTL)) }},
	{name: "negative-metadata-ttl", value: "SECONDS|indefinite|minimal", group: grpCache,
		help: "Time-to-live (TTL) for cached negative entries (names that do not exist)",
		def:  "same as metadata TTL",
		set: func(o *Options, v string) (err error) {
			o.NegativeMetadataTTL, err = parseTTL("negative-metadata-ttl", v)
			return
		},
		emit: func(o *Options) []string { return one(formatTTL(o.NegativeMetadataTTL)) }},
	{name: "max-cache-size", value: "MiB", group: grpCache,
		help: "Maximum size of the cache directory. A bare number is MiB, as in Mountpoint; units like 10g are accepted; 0 disables the data cache",
		def:  "preserve 5% of available space",
		set: func(o *Options, v string) (err error) {
			o.MaxCacheSize, err = sizeMiB("max-cache-size", v, 0)
			return
		},
		emit: func(o *Options) []string {
			if o.MaxCacheSize == 0 {
				return nil
			}
			return one(formatSize(o.MaxCacheSize))
		}},
	{name: "cache-xz", value: "BUCKET", group: grpCache,
		help:   "Enable caching of object content to the specified bucket on S3 Express One Zone (same region only)",
		notYet: "caching object content in an S3 Express One Zone bucket",
		set: func(o *Options, v string) error {
			if err := checkBucket("--cache-xz", v); err != nil {
				return err
			}
			o.CacheXZ = v
			return nil
		},
		emit: func(o *Options) []string {
			if o.CacheXZ == "" {
				return nil
			}
			return one(o.CacheXZ)
		}},

	// Logging options.
	{name: "log-directory", short: 'l', value: "DIRECTORY", group: grpLog,
		help: "Write log files to a directory", def: "logs written to syslog",
		set: func(o *Options, v string) error { return setPath("log-directory", v, &o.LogDirectory) },
		emit: func(o *Options) []string {
			if o.LogDirectory == "" {
				return nil
			}
			return one(o.LogDirectory)
		}},
	boolFlag("log-metrics", 0, grpLog, "Enable logging of summarized performance metrics", func(o *Options) *bool { return &o.LogMetrics }),
	boolFlag("debug", 'd', grpLog, "Enable debug logging", func(o *Options) *bool { return &o.Debug }),
	boolFlag("debug-crt", 0, grpLog, "Accepted for Mountpoint compatibility; no effect (s3mount does not use the AWS Common Runtime)", func(o *Options) *bool { return &o.DebugCRT }),
	boolFlag("no-log", 0, grpLog, "Disable all logging. You will still see stdout messages.", func(o *Options) *bool { return &o.NoLog }),

	// Advanced options.
	stringFlag("user-agent-prefix", "PREFIX", grpAdv, "Configure a string to be prepended to the 'User-Agent' HTTP request header for all S3 requests", "", func(o *Options) *string { return &o.UserAgentPrefix }),

	// s3mount log options.
	{name: "upload-interval", value: "DURATION", group: grpOurs,
		help: "Log writers (O_APPEND): publish unpublished data at most this often, even while the file stays open. A bare number is seconds",
		def:  "30s",
		set: func(o *Options, v string) error {
			d, err := parseDuration("upload-interval", v)
			if err == nil && d <= 0 {
				err = badValue("upload-interval", v, "a positive duration like 30s, 1m or 500ms")
			}
			o.UploadInterval = d
			return err
		},
		emit: func(o *Options) []string { return one(formatDuration(o.UploadInterval)) }},
	{name: "close-delay", value: "DURATION", group: grpOurs,
		help: "Log writers: publish this long after the last close (0 = at once). A bare number is seconds",
		def:  "1s",
		set: func(o *Options, v string) (err error) {
			o.CloseDelay, err = parseDuration("close-delay", v)
			return
		},
		emit: func(o *Options) []string { return one(formatDuration(o.CloseDelay)) }},
	{name: "buffer-mode", value: "MODE", group: grpOurs,
		help: "When the spool is full: blocking (write() waits for S3, nothing is lost) or non-blocking (log writes never wait; whole lines that do not fit are dropped, counted and marked in the file; other writers wait as in blocking mode)",
		def:  BufferBlocking,
		set: func(o *Options, v string) (err error) {
			o.BufferMode, err = parseChoice("buffer-mode", v, BufferBlocking, BufferNonBlocking)
			return
		},
		emit: func(o *Options) []string { return one(o.BufferMode) }},
	{name: "max-buffer-size", value: "SIZE", group: grpOurs,
		help: "Bound on unpublished data held in the spool. A bare number is bytes; units like 25m or 1g",
		def:  "1g",
		set: func(o *Options, v string) (err error) {
			o.MaxBufferSize, err = sizeBytes("max-buffer-size", v, 1)
			return
		},
		emit: func(o *Options) []string { return one(formatSize(o.MaxBufferSize)) }},
	{name: "spool-dir", value: "DIRECTORY", group: grpOurs,
		help: "Directory of the local spool (unpublished data and journals); the same bucket, prefix and mount point find the same default spool after a crash",
		def:  "/var/lib/s3mount/<mount id> as root, else $XDG_STATE_HOME/s3mount/<mount id> (~/.local/state)",
		set:  func(o *Options, v string) error { return setPath("spool-dir", v, &o.SpoolDir) },
		emit: func(o *Options) []string { return one(o.SpoolDir) }},
	{name: "spool-sync", value: "POLICY", group: grpOurs,
		help: "When spool data is fsynced: always (every write), interval (once per --upload-interval) or never",
		def:  "at each publication and at application fsync",
		set: func(o *Options, v string) (err error) {
			o.SpoolSync, err = parseChoice("spool-sync", v, SpoolSyncAlways, SpoolSyncInterval, SpoolSyncNever)
			return
		},
		emit: func(o *Options) []string {
			if o.SpoolSync == "" {
				return nil
			}
			return one(o.SpoolSync)
		}},
	{name: "metrics-addr", value: "ADDR", group: grpOurs,
		help: "Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464", def: "no metrics endpoint",
		set: func(o *Options, v string) (err error) {
			o.MetricsAddr, err = parseHostPort("metrics-addr", v)
			return
		},
		emit: func(o *Options) []string {
			if o.MetricsAddr == "" {
				return nil
			}
			return one(o.MetricsAddr)
		}},
	{name: "no-drop-marker", group: grpOurs,
		help: "In non-blocking mode, do not write a marker line where dropped data is missing",
		set: func(o *Options, v string) error {
			b, err := parseBool("no-drop-marker", v)
			o.DropMarker = !b
			return err
		},
		emit: func(o *Options) []string {
			if !o.DropMarker {
				return []string{""}
			}
			return nil
		}},
	{name: "max-edit-size", value: "SIZE", group: grpOurs,
		help: "Largest existing object that may be opened for editing (brought into the spool); larger ones refuse with EFBIG; 0 disables editing. A bare number is bytes",
		def:  "1g",
		set: func(o *Options, v string) (err error) {
			o.MaxEditSize, err = sizeBytes("max-edit-size", v, 0)
			return
		},
		emit: func(o *Options) []string { return one(formatSize(o.MaxEditSize)) }},
	{name: "compress", value: "CODEC", group: grpOurs,
		help: "Store log files matching --compress-glob compressed: NAME as the object NAME.gz (gzip) or NAME.zst (zstd), one growing object that gains one gzip member / zstd frame per publication; the mount shows NAME uncompressed",
		def:  "off",
		set: func(o *Options, v string) (err error) {
			o.Compress, err = parseChoice("compress", v, CompressGzip, CompressZstd)
			return
		},
		emit: func(o *Options) []string {
			if o.Compress == "" {
				return nil
			}
			return one(o.Compress)
		}},
	{name: "compress-glob", value: "PATTERN", group: grpOurs,
		help: "Which file names --compress applies to (a shell pattern matched against the base name; repeatable)",
		def:  DefaultCompressGlob,
		set: func(o *Options, v string) error {
			if _, err := compress.Glob(v); err != nil {
				return fmt.Errorf("invalid --compress-glob %q: %v", printable(v), err)
			}
			o.CompressGlobs = append(o.CompressGlobs, v)
			return nil
		},
		emit: func(o *Options) []string { return o.CompressGlobs }},
}

var (
	flagsByLong  = map[string]*flagDef{}
	flagsByShort = map[byte]*flagDef{}
)

func init() {
	for _, f := range flagTable {
		flagsByLong[f.name] = f
		for _, a := range f.aliases {
			flagsByLong[a] = f
		}
		if f.short != 0 {
			flagsByShort[f.short] = f
		}
	}
}
