package s3store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CreateBucket creates o.Bucket (used by `s3mount-demo`; a mount never
// creates buckets). An existing bucket owned by the caller is fine.
func CreateBucket(ctx context.Context, o Options) error {
	s, _, err := build(ctx, o)
	if err != nil {
		return err
	}
	_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(o.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %q: %w", o.Bucket, err)
	}
	return nil
}
