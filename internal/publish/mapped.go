package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// checkMapped settles the journal's MapCheck before anything else of the
// file's publication (a rebase or a punch would leave the bytes to compare
// no longer local): bytes of the data file S3 has may have been written
// past the daemon through a shared mapping (vfs localreads.go). The bytes
// S3 has in the range are read back: the same, nothing was changed and
// the file publishes as usual (only what S3 lacks, after another host's
// append if there was one); different, the file becomes a whole edit,
// published whole. A read that fails is an error like any failed
// publication step, retried by the job: never taken for a difference,
// which would publish the file whole over another host's append (a
// conflict). Called with the job's token held.
//
// While an open that may map the data file lasts (t.MapOpen), the check
// is left for after its release: a look now could not tell that a mapped
// write to the bytes compared does not come later, and such an open
// records that every byte S3 has is to be compared, so that a crash
// leaves that due. The publication goes on meanwhile (an open log's new
// lines publish on time), and nothing moves or frees the bytes: the open
// pins the data file. A record made while the look ran (an open, a
// release) keeps the check due: only the record compared is cleared.
func (p *Publisher) checkMapped(ctx context.Context, f *spool.File, t File) error {
	j := f.Journal()
	if j.MapCheck == nil || t.MapOpen() {
		return nil
	}
	c := *j.MapCheck
	from, to := c.From, min(c.To, j.BaseSize)
	whole := false
	switch {
	case j.Kind == spool.KindWhole || !j.Exists || j.Unlinked || from >= to:
		// Published whole anyway, or nothing in S3 to compare.
	case j.LocalStart > from:
		// Never so (the job compares before it punches or rebases):
		// the bytes are no longer here to compare.
		p.log.Warn("bytes of a file that may have been written through a shared mapping are no longer in the spool: not compared with S3", "key", j.Key, "from", from, "local_start", j.LocalStart)
	default:
		same, err := p.sameInS3(ctx, f, j.Key, from, to)
		if err != nil {
			return fmt.Errorf("cannot compare the bytes S3 has of a file that may have been written through a shared mapping: %w", err)
		}
		whole = !same
	}
	if whole {
		p.log.Info("bytes S3 has of the file differ from the spool's (written through a shared mapping): publishing it whole", "key", j.Key, "from", from, "to", to)
	}
	dropped := false // a difference found, the check cleared, the file not made whole
	err := f.Update(func(jj *spool.Journal) {
		dropped = false
		switch {
		case whole && jj.Kind == spool.KindAppend && jj.LocalStart == 0 && jj.Shift == 0:
			// Every byte is local (the data file was pinned when the
			// check was recorded, and nothing freed them since).
			jj.Kind, jj.Dirty = spool.KindWhole, true
			if jj.MapCheck != nil && *jj.MapCheck == c {
				jj.MapCheck = nil
			}
		case jj.MapCheck != nil && *jj.MapCheck == c:
			jj.MapCheck = nil
			dropped = whole && jj.Kind == spool.KindAppend
		}
		// Else another such open recorded a range meanwhile: looked at
		// again before the next publication.
	})
	if err == nil && dropped {
		// Never so (nothing moves or frees the bytes before this look):
		// said rather than silent, S3 keeping the bytes it has.
		p.log.Warn("bytes S3 has of the file differ from the spool's (written through a shared mapping), but the file can no longer be published whole: S3 keeps its bytes there", "key", j.Key, "from", from, "to", to)
	}
	return err
}

// sameInS3: the object at key holds f's logical bytes in [from, to). An
// error: S3 could not tell (an object gone or shorter is an answer).
func (p *Publisher) sameInS3(ctx context.Context, f *spool.File, key string, from, to int64) (bool, error) {
	rc, err := p.st.Get(ctx, key, from, to-from, "")
	if err != nil {
		return false, p.shorter(ctx, key, to, err)
	}
	defer rc.Close()
	theirs, local := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := from; off < to; {
		k := min(int64(len(theirs)), to-off)
		if _, err := io.ReadFull(rc, theirs[:k]); err != nil {
			return false, p.shorter(ctx, key, to, err)
		}
		if m, err := f.ReadAt(local[:k], off); int64(m) != k {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return false, err
		}
		if !bytes.Equal(theirs[:k], local[:k]) {
			return false, nil
		}
		off += k
	}
	return true, nil
}

// shorter: a read of the object's bytes below to failed (err); nil if S3
// answers that the object is gone or shorter (a range past its end is
// refused, 416), which differs from the file; else the error.
func (p *Publisher) shorter(ctx context.Context, key string, to int64, err error) error {
	info, herr := p.st.Head(ctx, key)
	if errors.Is(herr, s3store.ErrNotFound) || herr == nil && info.Size < to {
		return nil
	}
	return err
}
