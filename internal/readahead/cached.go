package readahead

import "context"

// fetchCached fills pt block by block: whole blocks the cache has are
// copied from it, runs of missing ones are one GET each, and every whole
// block fetched is stored. Parts are block-aligned when a cache is set, so
// only a part cut by a seek or a retry has partial blocks at its edges;
// those bytes are fetched and not cached.
func (r *Reader) fetchCached(ctx context.Context, pt *part, c Cache) error {
	bs, end := r.bs, pt.end()
	blockEnd := func(p int64) int64 { return min(p-p%bs+bs, r.size) }
	whole := func(p int64) bool { return p%bs == 0 && blockEnd(p) <= end }
	for pos := pt.off; pos < end; {
		if whole(pos) && c.Get(r.key, r.etag, pos/bs, pt.buf[pos-pt.off:blockEnd(pos)-pt.off]) {
			pos = blockEnd(pos)
			pt.progress(pos - pt.off)
			continue
		}
		run := min(blockEnd(pos), end)
		for run < end && !(whole(run) && c.Has(r.key, r.etag, run/bs)) {
			run = min(blockEnd(run), end)
		}
		base := pos - pt.off
		err := r.pool.get(ctx, r.key, r.etag, pos, pt.buf[base:run-pt.off], pt.urgent,
			func(n int64) { pt.progress(base + n) })
		if err != nil {
			return err
		}
		for b := pos; b < run; b = blockEnd(b) {
			if whole(b) {
				c.Put(r.key, r.etag, b/bs, pt.buf[b-pt.off:blockEnd(b)-pt.off])
			}
		}
		pos = run
	}
	return nil
}
