package zstore

import (
	"container/list"
	"sync"
)

// memberCache keeps recently decompressed members (a bounded number of
// bytes, least recently used first out): the next read of a sequential
// reader is usually in the member the last one decompressed.
type memberCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	order *list.List // of *cachedMember, most recent at the front
	byKey map[memberKey]*list.Element
}

type memberKey struct {
	key, etag string
	comp      int64
}

type cachedMember struct {
	k    memberKey
	data []byte
}

// membersCacheSize: room for a few members of each of a few readers.
const membersCacheSize = 64 << 20

func newMemberCache(max int64) *memberCache {
	return &memberCache{max: max, order: list.New(), byKey: map[memberKey]*list.Element{}}
}

func (c *memberCache) get(key, etag string, comp int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[memberKey{key, etag, comp}]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedMember).data, true
}

func (c *memberCache) put(key, etag string, comp int64, data []byte) {
	if int64(len(data)) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := memberKey{key, etag, comp}
	if _, ok := c.byKey[k]; ok {
		return
	}
	c.byKey[k] = c.order.PushFront(&cachedMember{k: k, data: data})
	c.used += int64(len(data))
	for c.used > c.max {
		e := c.order.Back()
		m := e.Value.(*cachedMember)
		c.order.Remove(e)
		delete(c.byKey, m.k)
		c.used -= int64(len(m.data))
	}
}
