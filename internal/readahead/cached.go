package readahead

import "context"

// fetchCached fills pt from the cache and S3 (fillCached).
func (r *Reader) fetchCached(ctx context.Context, pt *part, c Cache) error {
	return r.fillCached(ctx, c, pt.off, pt.buf[:pt.n], pt.urgent, pt.progress)
}

// fillCached fills buf (the object's bytes from off) block by block: whole
// blocks the cache has are copied from it, runs of missing ones are one
// GET each, and every whole block fetched is stored. Parts are
// block-aligned when a cache is set, so only a part cut by a seek or a
// retry has partial blocks at its edges; those bytes are fetched and not
// cached. Reads fetched directly (beside the stream, or past it when the
// budget is spent) come here too, so a whole read leaves the whole object
// cached. progress, if set, hears how many bytes from off are filled.
func (r *Reader) fillCached(ctx context.Context, c Cache, off int64, buf []byte, urgent bool, progress func(int64)) error {
	bs, end := r.bs, off+int64(len(buf))
	blockEnd := func(p int64) int64 { return min(p-p%bs+bs, r.size) }
	whole := func(p int64) bool { return p%bs == 0 && blockEnd(p) <= end }
	for pos := off; pos < end; {
		if whole(pos) && c.Get(r.key, r.etag, pos/bs, buf[pos-off:blockEnd(pos)-off]) {
			pos = blockEnd(pos)
			if progress != nil {
				progress(pos - off)
			}
			continue
		}
		run := min(blockEnd(pos), end)
		for run < end && !(whole(run) && c.Has(r.key, r.etag, run/bs)) {
			run = min(blockEnd(run), end)
		}
		base := pos - off
		var fp func(int64)
		if progress != nil {
			fp = func(n int64) { progress(base + n) }
		}
		if err := r.pool.get(ctx, r.key, r.etag, pos, buf[base:run-off], urgent, fp); err != nil {
			return err
		}
		for b := pos; b < run; b = blockEnd(b) {
			if whole(b) {
				c.Put(r.key, r.etag, b/bs, buf[b-off:blockEnd(b)-off])
			}
		}
		pos = run
	}
	return nil
}
