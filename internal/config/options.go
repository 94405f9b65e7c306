// Package config parses and validates s3mount's command line: Mountpoint for
// Amazon S3's flags with Mountpoint's spelling and meaning, the fstab form
// (-o opt=value,...), and s3mount's own log options. Usage() is the --help
// text and the source of truth for the README's option table.
package config

import (
	"math"
	"os"
	"time"
)

// Special TTL values. Minimal is also what "--metadata-ttl 0" means, as in
// Mountpoint (which deprecated 0 in favour of "minimal").
const (
	// Minimal: lookups are never served from the cache; the kernel keeps
	// entries for a very short time only (Mountpoint: 100 ms for files, 1 s
	// for directories) and there is no negative cache.
	Minimal time.Duration = 0
	// Indefinite: cached metadata never expires.
	Indefinite time.Duration = time.Duration(math.MaxInt64)
)

// Buffer modes (--buffer-mode).
const (
	BufferBlocking    = "blocking"
	BufferNonBlocking = "non-blocking"
)

// Codecs of --compress.
const (
	CompressGzip = "gzip"
	CompressZstd = "zstd"
)

// Spool sync policies (--spool-sync). SpoolSyncDefault ("") fsyncs spool
// data at each publication and at application fsync.
const (
	SpoolSyncDefault  = ""
	SpoolSyncAlways   = "always"
	SpoolSyncInterval = "interval"
	SpoolSyncNever    = "never"
)

// Upload checksum algorithms (--upload-checksums).
const (
	ChecksumCRC32C = "crc32c"
	ChecksumOff    = "off"
)

// Bucket types (--bucket-type). "" means inferred from the bucket name
// (names ending in --x-s3 are S3 Express One Zone directory buckets).
const (
	BucketTypeGeneralPurpose = "general-purpose"
	BucketTypeDirectory      = "directory"
)

// Defaults.
const (
	DefaultPartSize          = 8 << 20 // 8 MiB, Mountpoint's default
	DefaultMaxThreads        = 16
	DefaultMaxThroughputGbps = 10.0
	DefaultUploadInterval    = 30 * time.Second
	DefaultCloseDelay        = 1 * time.Second
	DefaultMaxBufferSize     = 1 << 30
	DefaultMaxEditSize       = 1 << 30
	DefaultCompressGlob      = "*.log"
	DefaultDirMode           = os.FileMode(0o755)
	DefaultFileMode          = os.FileMode(0o644)
	// CacheMetadataTTL is the metadata TTL when --cache is given without
	// --metadata-ttl (Mountpoint >= 1.7).
	CacheMetadataTTL = 60 * time.Second
	// MinMemoryTarget is the floor of the automatic --memory-target.
	MinMemoryTarget = 512 << 20
)

// Options is the parsed command line. Every value is resolved: defaults that
// depend on other options (metadata TTL, spool directory, uid/gid, memory
// target) are filled in by Parse. Paths are absolute.
type Options struct {
	// Positional arguments.
	Bucket     string // bucket name or access point ARN
	Prefix     string // "" or ends with "/"
	MountPoint string // absolute path (or /dev/fd/N)

	// Bucket options.
	Region               string // "" = auto-detect
	EndpointURL          string // "" = AWS default endpoint
	ForcePathStyle       bool
	TransferAcceleration bool
	DualStack            bool
	RequesterPays        bool
	BucketType           string // "", BucketTypeGeneralPurpose or BucketTypeDirectory
	ExpectedBucketOwner  string
	StorageClass         string // "" = bucket default (STANDARD)
	SSE                  string // "", "AES256", "aws:kms" or "aws:kms:dsse"
	SSEKMSKeyID          string // KMS key ARN, only with SSE aws:kms*
	UploadChecksums      string // ChecksumCRC32C (default) or ChecksumOff

	// AWS credentials options.
	Profile       string
	NoSignRequest bool

	// Mount options.
	ReadOnly          bool
	AllowDelete       bool
	AllowOverwrite    bool
	IncrementalUpload bool // accepted for compatibility; appends are always allowed
	AllowOther        bool
	AllowRoot         bool
	NoPosixMetadata   bool // chmod/chown/utimes not stored in S3
	NoSymlinkProbe    bool // listings do not HEAD small objects for their type
	NoPassthrough     bool // every read goes through the daemon (no FUSE passthrough)
	AutoUnmount       bool
	UID               uint32 // default: current uid
	GID               uint32 // default: current gid
	DirMode           os.FileMode
	FileMode          os.FileMode

	// Client options.
	ReadPartSize      int64 // bytes
	WritePartSize     int64 // bytes
	MaxThreads        int
	MaxThroughputGbps float64
	MemoryTarget      int64 // bytes; default max(512 MiB, 95% of RAM)
	Bind              []string
	UserAgentPrefix   string

	// Caching options.
	CacheDir            string        // "" = no data cache
	MaxCacheSize        int64         // bytes; 0 = keep 5% of the cache file system free
	CacheXZ             string        // S3 Express bucket used as a shared cache
	MetadataTTL         time.Duration // Minimal, Indefinite or a duration
	NegativeMetadataTTL time.Duration // Minimal, Indefinite or a duration

	// Logging options.
	LogDirectory string // "" = syslog
	Debug        bool
	DebugCRT     bool // accepted; no effect (s3mount has no AWS CRT)
	LogMetrics   bool
	NoLog        bool

	Foreground bool

	// s3mount log options.
	UploadInterval time.Duration
	CloseDelay     time.Duration
	BufferMode     string   // BufferBlocking or BufferNonBlocking
	MaxBufferSize  int64    // bytes
	SpoolDir       string   // absolute
	SpoolSync      string   // SpoolSyncDefault, SpoolSyncAlways, SpoolSyncInterval, SpoolSyncNever
	MetricsAddr    string   // "" = no Prometheus endpoint
	DropMarker     bool     // write a marker line where non-blocking mode dropped data
	MaxEditSize    int64    // bytes
	Compress       string   // "" (off), CompressGzip or CompressZstd
	CompressGlobs  []string // base-name patterns of the files compressed

	Help    bool
	Version bool

	// NotYet holds one sentence per option that was given but whose feature
	// is not implemented yet; main logs each once.
	NotYet []string
}
