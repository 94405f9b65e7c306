package s3store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CreateBucket creates o.Bucket (used by `s3mount demo`; a mount never
// creates buckets). An existing bucket owned by the caller is fine.
func CreateBucket(ctx context.Context, o Options) error {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.MaxConns <= 0 {
		o.MaxConns = defaultMaxConns
	}
	cfg, err := loadConfig(ctx, o)
	if err != nil {
		return err
	}
	s := &S3{bucket: o.Bucket, opts: o, stats: newCounters()}
	c := s.newClient(cfg)
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(o.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %q: %w", o.Bucket, err)
	}
	return nil
}
