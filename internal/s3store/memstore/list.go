package memstore

import (
	"context"
	"encoding/base64"
	"sort"
	"strings"

	"github.com/s3mount/s3mount/internal/s3store"
)

// List implements s3store.Store: ListObjectsV2 in byte order, common
// prefixes with a delimiter, max (default 1000) entries per page counting
// objects and prefixes together. The token is opaque.
func (s *Store) List(ctx context.Context, prefix, delimiter, token string, max int32) (s3store.ListPage, error) {
	var page s3store.ListPage
	err := s.do(ctx, Call{Op: "ListObjectsV2", Key: prefix}, 0, func() error {
		after := ""
		if token != "" {
			b, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil {
				return badRequest("ListObjectsV2", prefix, "InvalidArgument", "The continuation token provided is incorrect")
			}
			after = string(b)
		}
		if max <= 0 || max > 1000 {
			max = 1000
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		page = s.listPage(prefix, delimiter, after, int(max))
		return nil
	})
	return page, err
}

// listPage returns the entries after `after`. Callers hold s.mu.
func (s *Store) listPage(prefix, delimiter, after string, max int) s3store.ListPage {
	if s.sorted == nil {
		s.sorted = make([]string, 0, len(s.objects))
		for k := range s.objects {
			s.sorted = append(s.sorted, k)
		}
		sort.Strings(s.sorted)
	}
	p := s3store.ListPage{Objects: []s3store.ObjectInfo{}}
	last, n := "", 0
	// Keys at or below after are skipped by the loop; start near it.
	from := prefix
	if after > from {
		from = after
	}
	start := sort.SearchStrings(s.sorted, from)
	for _, k := range s.sorted[start:] {
		if !strings.HasPrefix(k, prefix) {
			break
		}
		entry, isPrefix := k, false
		if delimiter != "" {
			if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
				entry, isPrefix = k[:len(prefix)+i+len(delimiter)], true
			}
		}
		if entry <= after || (isPrefix && entry == last) {
			continue
		}
		if n == max {
			p.NextToken = base64.RawURLEncoding.EncodeToString([]byte(last))
			break
		}
		if isPrefix {
			p.Prefixes = append(p.Prefixes, entry)
		} else {
			info := s.objects[k].info(k)
			info.Tag = "" // ListObjectsV2 returns no metadata
			p.Objects = append(p.Objects, info)
		}
		last, n = entry, n+1
	}
	return p
}
