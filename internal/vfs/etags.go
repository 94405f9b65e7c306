package vfs

// ownETags remembers the ETags our own publications of one file produced,
// so that a reader may follow the object from one to the next (same bytes,
// extended) but stays pinned when someone else replaced it. It keeps the
// last ownETagsKept: a long-lived log publishes without end, and a reader
// that lagged more publications than that re-reads from the current object
// only if its own ETag is still known (otherwise ESTALE, as for a foreign
// change).
type ownETags struct {
	set   map[string]bool
	order []string
}

const ownETagsKept = 64

func (o *ownETags) add(etag string) {
	if etag == "" || o.set[etag] {
		return
	}
	if o.set == nil {
		o.set = map[string]bool{}
	}
	o.set[etag] = true
	o.order = append(o.order, etag)
	if len(o.order) > ownETagsKept {
		delete(o.set, o.order[0])
		o.order = append(o.order[:0:0], o.order[1:]...)
	}
}

func (o *ownETags) has(etag string) bool { return o.set[etag] }

func (o *ownETags) reset() { *o = ownETags{} }
