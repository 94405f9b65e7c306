package vfs

import (
	"context"
	"io"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// Several processes on one mount: writers append to app.log (opening it
// for each line, as `echo >>` and a restarted daemon do) while a rotator
// renames it away (app.log → app.log.1, .2, …: logrotate's `create`),
// publications run on their timers and S3 fails calls and loses answers.
// When the faults stop: what the mount shows of every file is what S3
// holds after shutdown, and every writer's lines are there once, in
// order across the rotated files. Renames and opens may fail while S3
// does (EIO); nothing may be lost, repeated, or shown differently. (On
// a general bucket it found rotations whose old key's delete failed: the
// old object was adopted by a writer reopening the name, and its late
// delete could take the new lines; TestRotationWhoseOldKeyIsDeletedLater.)
func TestRotateUnderFaults(t *testing.T) {
	stressRounds(t, func(t *testing.T, seed int64, codec compress.Codec, express bool) {
		rotateRound(t, seed, codec, express, false)
	})
}

// The same with logrotate's numbering: each rotation first shifts the
// rotated files (app.log.2 -> app.log.3, app.log.1 -> app.log.2), then
// renames app.log to app.log.1: renames of files renamed just before,
// whose old key's delete may still be due.
func TestRotateShiftUnderFaults(t *testing.T) {
	stressRounds(t, func(t *testing.T, seed int64, codec compress.Codec, express bool) {
		rotateRound(t, seed, codec, express, true)
	})
}

// rotateRound runs one round; shift: logrotate's numbering (app.log.1 is
// the newest rotated file), else app.log.1 is the oldest.
func rotateRound(t *testing.T, seed int64, codec compress.Codec, express, shift bool) {
	ctx := context.Background()
	const lines, rotations = 200, 5
	mem := stressBucket(express)
	fs := timedFS(t, mem, t.TempDir(), codec, express, func(o *Options) { o.AllowDelete = true })
	shut := sync.OnceValue(func() error { return fs.Shutdown(ctx) })
	t.Cleanup(func() { mem.SetHook(nil); shut() })
	faults := stressFaults(mem, seed, 4*time.Millisecond, 5)
	writers := []string{"A", "B", "C"}
	var wg sync.WaitGroup
	errs := make(chan error, len(writers))
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- appendLines(ctx, fs, "app.log", w, lines, true)
		}()
	}
	// The rotator, while the writers write: a rename that fails (S3
	// down) is tried again later.
	done, stop := make(chan struct{}), make(chan struct{})
	rotated := 0
	var failedRenames int
	go func() {
		defer close(done)
		rrng := rand.New(rand.NewSource(seed + 1))
		for rotated < rotations {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(20+rrng.Intn(20)) * time.Millisecond):
			}
			to := "app.log." + strconv.Itoa(rotated+1)
			if shift {
				if err := shiftRotated(ctx, fs, rotated, stop); err != nil {
					failedRenames++
					continue // the shift goes on where it stopped
				}
				to = "app.log.1"
			}
			err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), to, 0)
			switch {
			case err == nil:
				rotated++
			case err == ErrNotFound:
			default:
				failedRenames++
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mem.SetHook(nil)
	// What the mount shows now, every file read through it.
	shown := map[string]string{}
	if err := fs.ReadDir(ctx, fs.Root(), func(e DirEntry) bool {
		shown[e.Name] = ""
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for name := range shown {
		shown[name] = readThrough(t, fs, name)
	}
	if err := shut(); err != nil {
		t.Fatalf("shutdown with the faults gone: %v", err)
	}
	f := faults()
	t.Logf("%d rotations (%d renames failed), %d faults, %d calls", rotated, failedRenames, f[memstore.Fail]+f[memstore.LoseAnswer]+f[memstore.Retried], mem.Calls())
	names := make([]string, 0, len(shown))
	for name := range shown {
		names = append(names, name)
	}
	// app.log.1 … app.log.N, then app.log: each writer's lines in order.
	sort.Slice(names, func(i, j int) bool {
		a, b := rotationIndex(names[i]), rotationIndex(names[j])
		if shift && a != b && a != 1<<30 && b != 1<<30 {
			return a > b // app.log.N is the oldest
		}
		return a < b
	})
	var all strings.Builder
	for _, name := range names {
		inS3 := string(readKey(t, mem, codec, name))
		if inS3 != shown[name] {
			t.Fatalf("%s: the mount showed %d bytes, S3 holds %d after shutdown", name, len(shown[name]), len(inS3))
		}
		all.WriteString(inS3)
	}
	if len(names) != rotated+1 && !(len(names) == rotated && shown["app.log"] == "") {
		t.Fatalf("files %v after %d rotations", names, rotated)
	}
	checkLines(t, all.String(), writers, lines)
}

// shiftRotated renames app.log.k to app.log.k+1 for k = n … 1, each
// that is still to move (a shift a failed rename stopped goes on; never
// over a file: a lookup that fails under the faults cannot tell).
func shiftRotated(ctx context.Context, fs *FS, n int, stop <-chan struct{}) error {
	for k := n; k >= 1; k-- {
		from, to := "app.log."+strconv.Itoa(k), "app.log."+strconv.Itoa(k+1)
		err := fs.Rename(ctx, fs.Root(), from, fs.Root(), to, RenameNoReplace)
		if err == ErrExists || err == ErrNotFound {
			continue // moved before a later step failed
		}
		if err != nil {
			select {
			case <-stop:
			case <-time.After(2 * time.Millisecond):
			}
			return err
		}
	}
	return nil
}

// rotationIndex orders app.log.1 … app.log.N before app.log.
func rotationIndex(name string) int {
	if i, err := strconv.Atoi(strings.TrimPrefix(name, "app.log.")); err == nil {
		return i
	}
	return 1 << 30
}

// readThrough reads name whole through the file system.
func readThrough(t *testing.T, fs *FS, name string) string {
	t.Helper()
	ctx := context.Background()
	n, err := fs.Lookup(ctx, fs.Root(), name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	h, err := fs.Open(ctx, n, os.O_RDONLY)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer h.Release()
	var b []byte
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		k, err := h.Read(ctx, buf, off)
		b = append(b, buf[:k]...)
		off += int64(k)
		if err == io.EOF || (err == nil && k == 0) {
			return string(b)
		}
		if err != nil {
			t.Fatalf("read %s at %d: %v", name, off, err)
		}
	}
}
