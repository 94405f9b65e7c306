package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// FUSE passthrough of wholly cached objects on a read-write mount: a
// write made while the kernel reads an object's cache file for a reader
// moves that file into the spool as the write's data file, so the reader
// reads every write as soon as it returns (internal/vfs/cachedreads.go).

// rwCacheMount mounts read-write with a data cache on the spool's file
// system, metrics, and quick publications.
func rwCacheMount(t *testing.T, srv *testenv.Server, b string) (*testenv.Mount, string, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	cache := t.TempDir()
	m := mount(t, srv, b, "--metrics-addr", addr, "--cache", cache, "--metadata-ttl", "minimal",
		"--allow-overwrite", "--upload-interval", "1s", "--close-delay", "200ms")
	if !bytes.Contains([]byte(m.Stderr()), []byte(cachePassthroughOnLog)) {
		t.Fatalf("a read-write mount with the cache beside the spool does not read cached objects through passthrough:\n%s", m.Stderr())
	}
	return m, addr, cache
}

// openCachedReader reads p (want) whole, so it is cached, and opens it
// again: that open reads the cache's file directly.
func openCachedReader(t *testing.T, addr, cache, p string, want []byte) *os.File {
	t.Helper()
	if got, _, _ := readCounted(t, addr, p); !bytes.Equal(got, want) {
		t.Fatalf("first read of %s: wrong bytes", p)
	}
	testenv.WaitCachedFile(t, cache, int64(len(want)))
	r := openFromCache(t, addr, p)
	t.Cleanup(func() { r.Close() })
	return r
}

// waitObject waits until S3 holds want at key.
func waitObject(t *testing.T, srv *testenv.Server, b, key string, want []byte) {
	t.Helper()
	if !waitUntil(30*time.Second, func() bool { return bytes.Equal(srv.Get(t, b, key), want) }) {
		t.Fatalf("S3 never held the %d bytes the mount showed at %s (now %d)", len(want), key, len(srv.Get(t, b, key)))
	}
}

// A write made while another process reads the object from its cache
// file — appending, O_TRUNC, truncate(2), editing in place — is read by
// that reader as soon as the write returns (its size too), by a reader
// opened after it, and S3 gets the same bytes.
func TestPassthroughCachedWriterAfterReader(t *testing.T) {
	const size = 3<<20 + 4321
	for _, c := range []struct {
		name  string
		write func(t *testing.T, p string) (closeW func())
		want  func(v []byte) []byte
	}{
		{"append", func(t *testing.T, p string) func() {
			w := appendLine(t, p, "one more line\n")
			return func() { w.Close() }
		}, func(v []byte) []byte { return append(bytes.Clone(v), "one more line\n"...) }},
		{"O_TRUNC", func(t *testing.T, p string) func() {
			w, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("new content\n")); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}, func([]byte) []byte { return []byte("new content\n") }},
		{"truncate", func(t *testing.T, p string) func() {
			if err := os.Truncate(p, 12345); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}, func(v []byte) []byte { return bytes.Clone(v[:12345]) }},
		{"edit", func(t *testing.T, p string) func() {
			w, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteAt([]byte("EDITED"), 2<<20); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}, func(v []byte) []byte { v = bytes.Clone(v); copy(v[2<<20:], "EDITED"); return v }},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, b := setup(t)
			v := randBytes(91, size)
			srv.Put(t, b, "data.bin", v)
			m, addr, cache := rwCacheMount(t, srv, b)
			p := filepath.Join(m.Dir, "data.bin")
			r := openCachedReader(t, addr, cache, p, v)
			if got := readFrom0(t, r); !bytes.Equal(got, v) {
				t.Fatal("the cache file's reader: wrong bytes")
			}
			closeW := c.write(t, p)
			want := c.want(v)
			if got := readFrom0(t, r); !bytes.Equal(got, want) {
				t.Fatalf("the cache file's reader after the write returned: %d bytes, want %d (same %v)", len(got), len(want), bytes.Equal(got, want))
			}
			if fi, err := r.Stat(); err != nil || fi.Size() != int64(len(want)) {
				t.Fatalf("the reader's fstat after the write: %v, %v; want size %d", fi.Size(), err, len(want))
			}
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("a reader opened after the write: %d bytes, %v", len(got), err)
			}
			closeW()
			waitObject(t, srv, b, "data.bin", want)
			if got := readFrom0(t, r); !bytes.Equal(got, want) {
				t.Fatal("the cache file's reader once the write was published: wrong bytes")
			}
			r.Close()
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("a read once every open closed: %d bytes, %v", len(got), err)
			}
		})
	}
}

// A write with no reader of the cache file open: readers after it read
// the written bytes, never the cached old version; once published, the
// new version is cached and read from its own cache file.
func TestPassthroughCachedReaderAfterWriter(t *testing.T) {
	srv, b := setup(t)
	const size = 2<<20 + 99
	v := randBytes(92, size)
	srv.Put(t, b, "log.txt", v)
	m, addr, cache := rwCacheMount(t, srv, b)
	p := filepath.Join(m.Dir, "log.txt")
	r := openCachedReader(t, addr, cache, p, v)
	r.Close()
	w := appendLine(t, p, "appended\n")
	want := append(bytes.Clone(v), "appended\n"...)
	got, _, opens := readCounted(t, addr, p)
	if !bytes.Equal(got, want) || opens != 0 {
		t.Fatalf("a reader beside the writer: %d bytes (right %v), %v cache opens; want the write, none", len(got), bytes.Equal(got, want), opens)
	}
	w.Close()
	waitObject(t, srv, b, "log.txt", want)
	if !waitUntil(30*time.Second, func() bool {
		got, _, opens := readCounted(t, addr, p)
		if !bytes.Equal(got, want) {
			t.Fatalf("a read after the publication: %d bytes, not the written file", len(got))
		}
		return opens == 1
	}) {
		t.Fatal("the published version never read from its cache file")
	}
}

// The object changed in S3 (another host) while a reader reads its old
// version's cache file: that reader keeps the version it opened (as on a
// read-only mount), new opens read the new one, and a write here starts
// from the new one: S3 and new readers get it with the write.
func TestPassthroughCachedRemoteChangeReadWrite(t *testing.T) {
	srv, b := setup(t)
	v1, v2 := randBytes(93, 2<<20+5), randBytes(94, 1<<20+7)
	srv.Put(t, b, "data.bin", v1)
	m, addr, cache := rwCacheMount(t, srv, b)
	p := filepath.Join(m.Dir, "data.bin")
	r := openCachedReader(t, addr, cache, p, v1)
	srv.Put(t, b, "data.bin", v2)
	if !waitUntil(20*time.Second, func() bool {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, v1) && !bytes.Equal(got, v2) {
			t.Fatalf("read after a replace: %d bytes, %v: neither version", len(got), err)
		}
		return bytes.Equal(got, v2)
	}) {
		t.Fatal("the replaced object's new bytes never read")
	}
	w := appendLine(t, p, "tail\n")
	want := append(bytes.Clone(v2), "tail\n"...)
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("a reader after the write: %d bytes, %v", len(got), err)
	}
	if got := readFrom0(t, r); !bytes.Equal(got, v1) {
		t.Fatalf("the old version's reader: %d bytes, not the version it opened", len(got))
	}
	w.Close()
	waitObject(t, srv, b, "data.bin", want)
	r.Close()
}

// readFrom0 is f's whole content as an open file sees it now.
func readFrom0(t *testing.T, f *os.File) []byte { return []byte(readAllAt(t, f, 0)) }

// appendLine opens p for appending and writes line; the caller closes it.
func appendLine(t *testing.T, p, line string) *os.File {
	t.Helper()
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	return w
}

// A file renamed while another process reads it from its cache file, on
// a bucket that refuses the old key's delete, then appended under its
// new name: the reader reads the appended line as soon as the write
// returns. Before, the rename gave the file a journal of its own (to
// delete the old key later) and the append went there, not to the cache
// file that reader's kernel reads: it never saw the line.
func TestPassthroughCachedRenamedThenAppended(t *testing.T) {
	srv, b := setup(t)
	const size = 1<<20 + 77
	v := randBytes(92, size)
	srv.Put(t, b, "app.log", v)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	cache := t.TempDir()
	m, p := mountVia(t, srv, b, "--metrics-addr", addr, "--cache", cache, "--metadata-ttl", "minimal",
		"--allow-delete", "--upload-interval", "1s", "--close-delay", "200ms")
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m.Stderr())
		}
	}()
	r := openCachedReader(t, addr, cache, filepath.Join(m.Dir, "app.log"), v)
	p.SetRefuseDeletes(true)
	if err := os.Rename(filepath.Join(m.Dir, "app.log"), filepath.Join(m.Dir, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	w := appendLine(t, filepath.Join(m.Dir, "app.log.1"), "one more line\n")
	want := append(bytes.Clone(v), "one more line\n"...)
	if got := readFrom0(t, r); !bytes.Equal(got, want) {
		t.Fatalf("the cache file's reader after the append returned: %d bytes, want %d", len(got), len(want))
	}
	w.Close()
	r.Close()
	p.SetRefuseDeletes(false)
	waitObject(t, srv, b, "app.log.1", want)
	m.Unmount(t)
	if keys := srv.Keys(t, b, ""); len(keys) != 1 || keys[0] != "app.log.1" {
		t.Errorf("after the unmount S3 holds %q, want only app.log.1", keys)
	}
}

// A chmod stores the mode by copying the object onto itself: a new ETag,
// the same bytes. A process reading the object's cache file directly
// still sees a later append at once (before, the cache file kept the old
// ETag, the write could not take it into the spool, and that reader read
// on the object as it was: model seed 816569269).
func TestPassthroughCachedChmodThenAppended(t *testing.T) {
	srv, b := setup(t)
	st := srv.Store(t, b)
	// A multipart object: its copy onto itself has another ETag (a
	// single-part object's is the MD5 of its bytes, the same).
	const size = s3store.MinPartSize + 99
	v := randBytes(93, size)
	putMultipart(t, st, "app.log", v, s3store.MinPartSize)
	m, addr, cache := rwCacheMount(t, srv, b)
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m.Stderr())
		}
	}()
	p := filepath.Join(m.Dir, "app.log")
	r := openCachedReader(t, addr, cache, p, v)
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(30*time.Second, func() bool {
		a := headAttrs(t, st, "app.log")
		return a != nil && a.Mode&0o777 == 0o640
	}) {
		t.Fatalf("S3 never held the mode: %+v", headAttrs(t, st, "app.log"))
	}
	w := appendLine(t, p, "one more line\n")
	want := append(bytes.Clone(v), "one more line\n"...)
	if got := readFrom0(t, r); !bytes.Equal(got, want) {
		t.Fatalf("the cache file's reader after the chmod and the append returned %d bytes, want %d", len(got), len(want))
	}
	w.Close()
	r.Close()
	waitObject(t, srv, b, "app.log", want)
	if a := headAttrs(t, st, "app.log"); a == nil || a.Mode&0o777 != 0o640 {
		t.Errorf("after the append S3 holds the mode %+v, want 0640", a)
	}
}

// putMultipart writes data at key as a multipart upload of partSize parts.
func putMultipart(t *testing.T, st s3store.Store, key string, data []byte, partSize int) {
	t.Helper()
	ctx := context.Background()
	id, err := st.CreateMultipart(ctx, key, s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []s3store.Part
	for off, num := 0, int32(1); off < len(data); off, num = off+partSize, num+1 {
		chunk := data[off:min(off+partSize, len(data))]
		p, err := st.UploadPart(ctx, key, id, num, bytes.NewReader(chunk), int64(len(chunk)))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	if _, err := st.CompleteMultipart(ctx, key, id, parts, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
}
