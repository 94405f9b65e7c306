// Package testenv holds the helpers every test of s3mount uses: a real S3
// server on 127.0.0.1 (versitygw's POSIX backend by default, MinIO when
// S3MOUNT_TEST_SERVER=minio), buckets, raw object helpers, a fault-injecting
// proxy, and runs of the real s3mount binary.
//
// Test-only exception to the package map: testenv imports aws-sdk-go-v2
// directly, so its raw helpers do not go through the code under test.
//
// Use it from TestMain so every server and mount it started is stopped:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv
