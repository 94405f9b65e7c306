package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3mount/s3mount/internal/s3store"
)

var bucketSeq atomic.Int64

// Client is a raw SDK client for this server, independent of s3store.
func (s *Server) Client() *s3.Client {
	s.clientOnce.Do(func() {
		s.client = s3.New(s3.Options{
			Region:           s.Region,
			BaseEndpoint:     aws.String(s.Endpoint),
			UsePathStyle:     true,
			Credentials:      s.Credentials(),
			RetryMaxAttempts: 5,
		})
	})
	return s.client
}

// Credentials is a static provider with the server's keys.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
}

func ctx30() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// NewBucket creates a unique bucket, emptied and removed at t.Cleanup.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6, bucketSeq.Add(1))
	ctx, cancel := ctx30()
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("testenv: create bucket %s: %v", name, err)
	}
	t.Cleanup(func() { s.removeBucket(t, name) })
	return name
}

// removeBucket empties and deletes the bucket, logging (not failing) errors.
func (s *Server) removeBucket(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := s.Client()
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &name})
	if err == nil {
		for _, u := range ups.Uploads {
			c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &name, Key: u.Key, UploadId: u.UploadId})
		}
	}
	keys, err := listKeys(ctx, c, name, "")
	if err != nil {
		t.Logf("testenv: empty bucket %s: %v", name, err)
		return
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i := range batch {
			ids[i] = types.ObjectIdentifier{Key: &batch[i]}
		}
		if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &name,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			// A key XML cannot carry (tests put such keys): one by one.
			for i := range batch {
				c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &name, Key: &batch[i]})
			}
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
		t.Logf("testenv: delete bucket %s: %v", name, err)
	}
}

// Store is an s3store.Store on bucket, as the mount would build it.
func (s *Server) Store(t testing.TB, bucket string) s3store.Store {
	t.Helper()
	return s.StoreWith(t, s3store.Options{Bucket: bucket})
}

// StoreWith is Store with more options; endpoint, path style, region and
// credentials are filled in when empty.
func (s *Server) StoreWith(t testing.TB, o s3store.Options) *s3store.S3 {
	t.Helper()
	if o.EndpointURL == "" {
		o.EndpointURL = s.Endpoint
	}
	o.ForcePathStyle = true
	if o.Region == "" {
		o.Region = s.Region
	}
	if o.Credentials == nil && !o.NoSignRequest {
		o.Credentials = s.Credentials()
	}
	ctx, cancel := ctx30()
	defer cancel()
	st, err := s3store.New(ctx, o)
	if err != nil {
		t.Fatalf("testenv: s3store.New: %v", err)
	}
	return st
}

// Put writes an object directly, bypassing s3store.
func (s *Server) Put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	ctx, cancel := ctx30()
	defer cancel()
	if _, err := s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key,
		Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("testenv: put %s/%s: %v", bucket, key, err)
	}
}

// Delete deletes an object directly, bypassing s3store (another host).
func (s *Server) Delete(t testing.TB, bucket, key string) {
	t.Helper()
	ctx, cancel := ctx30()
	defer cancel()
	if _, err := s.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatalf("testenv: delete %s/%s: %v", bucket, key, err)
	}
}

// Get reads a whole object directly; a missing key fails the test.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("testenv: get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("testenv: get %s/%s: %v", bucket, key, err)
	}
	return b
}

// Exists reports whether the key exists (HeadObject).
func (s *Server) Exists(t testing.TB, bucket, key string) bool {
	t.Helper()
	ctx, cancel := ctx30()
	defer cancel()
	_, err := s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		return true
	}
	var nf *types.NotFound
	var nk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nk) {
		return false
	}
	t.Fatalf("testenv: head %s/%s: %v", bucket, key, err)
	return false
}

// Keys lists every key under prefix, all pages.
func (s *Server) Keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	ctx, cancel := ctx30()
	defer cancel()
	keys, err := listKeys(ctx, s.Client(), bucket, prefix)
	if err != nil {
		t.Fatalf("testenv: list %s/%s: %v", bucket, prefix, err)
	}
	return keys
}

// listKeys lists every key under prefix, URL-encoded on the wire (a key
// with a control character cannot travel in XML) and decoded.
func listKeys(ctx context.Context, c *s3.Client, bucket, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, EncodingType: types.EncodingTypeUrl})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if page.EncodingType == types.EncodingTypeUrl {
				if k, err = url.QueryUnescape(k); err != nil {
					return nil, err
				}
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}
