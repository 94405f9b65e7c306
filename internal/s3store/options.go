package s3store

import "github.com/aws/aws-sdk-go-v2/aws"

// Options configures New. Zero values give the documented defaults.
type Options struct {
	Bucket              string
	Region              string // "": auto-detect from the bucket, default us-east-1
	EndpointURL         string // "": AWS
	ForcePathStyle      bool
	Profile             string // shared config profile
	NoSignRequest       bool   // anonymous credentials
	RequesterPays       bool   // x-amz-request-payer: requester on every request
	ExpectedBucketOwner string
	UserAgentPrefix     string
	StorageClass        string // on Put, CreateMultipart and Copy
	SSE                 string // "", "AES256", "aws:kms", "aws:kms:dsse"
	SSEKMSKeyID         string
	UploadChecksums     string // "crc32c" (default) or "off"
	MaxAttempts         int    // default 10
	MaxConns            int    // idle connections kept per host, default 64
	// SDKListDecoder: List decodes every page with the SDK's decoder, not
	// parseList (the conformance tests; the benchmark's raw paging, which
	// stands for a plain SDK client).
	SDKListDecoder bool
	// Credentials overrides the standard chain when non-nil (tests use
	// static keys; the chain would otherwise look further, up to IMDS).
	Credentials aws.CredentialsProvider
}

const (
	defaultRegion      = "us-east-1"
	defaultMaxAttempts = 10
	defaultMaxConns    = 64
	// The mount-time bucket check must fail fast when the endpoint is down.
	checkAttempts = 2
)

func (o *Options) checksums() bool { return o.UploadChecksums != "off" }
