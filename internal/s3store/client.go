package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 is the aws-sdk-go-v2 Store.
type S3 struct {
	client *s3.Client
	bucket string
	opts   Options
	stats  *counters
	// listURL: the last List page parseList read was URL-encoded (its
	// guess for the next).
	listURL atomic.Bool
}

var _ Store = (*S3)(nil)

// New builds the client from the standard credential chain and checks that
// the bucket can be reached, detecting its region when o.Region is "".
// Errors are one sentence and match ErrNoSuchBucket, ErrAccessDenied or
// ErrUnreachable.
func New(ctx context.Context, o Options) (*S3, error) {
	s, cfg, err := build(ctx, o)
	if err != nil {
		return nil, err
	}
	region, err := s.check(ctx, cfg.Region)
	if err != nil {
		return nil, err
	}
	if region != "" && region != cfg.Region {
		cfg.Region = region
		s.client = s.newClient(cfg)
	}
	return s, nil
}

// build makes the client without touching the bucket.
func build(ctx context.Context, o Options) (*S3, aws.Config, error) {
	if o.Bucket == "" {
		return nil, aws.Config{}, errors.New("no bucket given")
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = envMaxAttempts()
	}
	if o.MaxConns <= 0 {
		o.MaxConns = defaultMaxConns
	}
	cfg, err := loadConfig(ctx, o)
	if err != nil {
		return nil, cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	s := &S3{bucket: o.Bucket, opts: o, stats: newCounters()}
	s.client = s.newClient(cfg)
	return s, cfg, nil
}

func loadConfig(ctx context.Context, o Options) (aws.Config, error) {
	// A BuildableClient, not a bare http.Client: LoadDefaultConfig can only
	// add AWS_CA_BUNDLE's roots to a BuildableClient.
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 2 * o.MaxConns
		tr.MaxIdleConnsPerHost = o.MaxConns
		tr.IdleConnTimeout = 90 * time.Second
		// A hung server must not hang a call forever; long enough for a
		// server-side copy of a 5 GiB part.
		tr.ResponseHeaderTimeout = 2 * time.Minute
		tr.ReadBufferSize = 64 << 10
		tr.WriteBufferSize = 64 << 10
		// Objects are read as stored: no gzip negotiation, whose
		// decompression would cost CPU per byte on the read path.
		tr.DisableCompression = true
	})
	lo := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = 5 * time.Second
				// No retry quota: after an outage the client must keep retrying.
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.Region != "" {
		lo = append(lo, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(o.Profile))
	}
	switch {
	case o.NoSignRequest:
		lo = append(lo, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	case o.Credentials != nil:
		lo = append(lo, config.WithCredentialsProvider(o.Credentials))
	}
	if !o.checksums() {
		lo = append(lo,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired))
	}
	// Ranged reads are not validated anyway; skip the whole-object check.
	lo = append(lo, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return cfg, err
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	return cfg, nil
}

func (s *S3) newClient(cfg aws.Config) *s3.Client {
	o := s.opts
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.EndpointURL != "" {
			so.BaseEndpoint = aws.String(o.EndpointURL)
		}
		so.UsePathStyle = o.ForcePathStyle
		so.APIOptions = append(so.APIOptions, s.stats.addMiddleware)
		if o.UserAgentPrefix != "" {
			so.APIOptions = append(so.APIOptions, awsmiddleware.AddUserAgentKey(o.UserAgentPrefix))
		}
		if o.RequesterPays || o.ExpectedBucketOwner != "" {
			so.APIOptions = append(so.APIOptions, s.addHeaders)
		}
	})
}

// addHeaders sets the per-bucket headers on every request, before signing.
func (s *S3) addHeaders(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("s3storeHeaders",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if s.opts.RequesterPays {
					req.Header.Set("x-amz-request-payer", "requester")
				}
				if s.opts.ExpectedBucketOwner != "" {
					req.Header.Set("x-amz-expected-bucket-owner", s.opts.ExpectedBucketOwner)
				}
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}

// check is the mount-time HeadBucket: few attempts, short timeout. It
// returns the bucket's region when the server names one.
func (s *S3) check(ctx context.Context, region string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	few := func(so *s3.Options) {
		so.Retryer = retry.AddWithMaxAttempts(so.Retryer, checkAttempts)
	}
	out, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}, few)
	if err == nil {
		return aws.ToString(out.BucketRegion), nil
	}
	// Wrong region: AWS answers 301 (or 400) with the right one in a header.
	if r := regionHeader(err); r != "" && r != region {
		return r, nil
	}
	werr := wrapErr("HeadBucket", "", err)
	if errors.Is(werr, ErrNotFound) || errors.Is(werr, ErrNoSuchBucket) {
		return "", &checkError{fmt.Sprintf("bucket %q does not exist", s.bucket), ErrNoSuchBucket, werr}
	}
	if errors.Is(werr, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		return "", &checkError{fmt.Sprintf("cannot reach S3 endpoint %s: %s",
			s.endpointName(), transportDetail(err)), ErrUnreachable, werr}
	}
	// Some servers or policies refuse HeadBucket but allow listing.
	_, lerr := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), MaxKeys: aws.Int32(1)}, few)
	if lerr == nil {
		return "", nil
	}
	lw := wrapErr("ListObjectsV2", "", lerr)
	switch {
	case errors.Is(lw, ErrNoSuchBucket):
		return "", &checkError{fmt.Sprintf("bucket %q does not exist", s.bucket), ErrNoSuchBucket, lw}
	case errors.Is(werr, ErrAccessDenied) || errors.Is(lw, ErrAccessDenied):
		return "", &checkError{fmt.Sprintf("access to bucket %q was denied: check credentials", s.bucket),
			ErrAccessDenied, lw}
	}
	return "", &checkError{fmt.Sprintf("cannot use bucket %q: %v", s.bucket, lw), lw, werr}
}

func regionHeader(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("x-amz-bucket-region")
	}
	return ""
}

func (s *S3) endpointName() string {
	if s.opts.EndpointURL != "" {
		return s.opts.EndpointURL
	}
	return "for bucket " + s.bucket
}

// Bucket is the bucket this Store is bound to.
func (s *S3) Bucket() string { return s.bucket }

// Stats returns the per-operation counters so far.
func (s *S3) Stats() Stats { return s.stats.snapshot() }

// ListPagesDecoded is how many List pages parseList decoded (plain) and
// how many the SDK's decoder did (SDKListDecoder, or a body parseList does
// not read).
func (s *S3) ListPagesDecoded() (plain, sdk int64) {
	return s.stats.listPlain.Load(), s.stats.listSDK.Load()
}

// Retries is the number of retried attempts over all operations.
func (s *S3) Retries() int64 { return s.stats.retries.Load() }

// envMaxAttempts is AWS_MAX_ATTEMPTS (as Mountpoint and the AWS CLI read
// it), or the default when it is unset or not a positive number.
func envMaxAttempts() int {
	if v, err := strconv.Atoi(os.Getenv("AWS_MAX_ATTEMPTS")); err == nil && v > 0 {
		return v
	}
	return defaultMaxAttempts
}
