package main

import (
	"bytes"
	"context"
	"os"

	"github.com/s3mount/s3mount/internal/s3store"
)

// fillBucket creates the demo bucket with a few objects to look at.
func fillBucket(ctx context.Context, gw *gateway) error {
	// The AWS SDK reads credentials from the environment.
	os.Setenv("AWS_ACCESS_KEY_ID", demoKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", demoSecret)
	os.Setenv("AWS_REGION", demoRegion)
	so := s3store.Options{Bucket: demoBucket, Region: demoRegion, EndpointURL: gw.endpoint, ForcePathStyle: true}
	if err := s3store.CreateBucket(ctx, so); err != nil {
		return err
	}
	st, err := s3store.New(ctx, so)
	if err != nil {
		return err
	}
	samples := map[string]string{
		"README.txt":             "This bucket is served by versitygw on " + gw.endpoint + " and mounted by s3mount.\nTry: echo hello >> logs/app.log; tail -f logs/app.log\n",
		"logs/app.log":           "2026-01-01T00:00:00Z demo started\n",
		"data/numbers.csv":       "n,square\n1,1\n2,4\n3,9\n",
		"data/nested/deeper.txt": "directories are key prefixes\n",
	}
	for k, v := range samples {
		if _, err := st.Put(ctx, k, bytes.NewReader([]byte(v)), int64(len(v)), s3store.Cond{}); err != nil {
			return err
		}
	}
	return nil
}
