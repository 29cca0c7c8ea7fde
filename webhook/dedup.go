package webhook

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Deduper remembers the alerts already handled. Seen records key and reports
// whether it was new; of concurrent callers with the same key exactly one
// must get first == true. The daemon backs it with SQLite.
type Deduper interface {
	Seen(ctx context.Context, key string) (first bool, err error)
}

// Forgetter is implemented by a Deduper that can drop a key again. When the
// queue refuses a request's alerts, the handler forgets the keys the request
// marked, so that Alertmanager's retry of the request is handled as new. A
// Deduper that is not a Forgetter loses those alerts: the retry is taken for a
// duplicate.
type Forgetter interface {
	Forget(ctx context.Context, key string) error
}

// MemoryDeduper is an in-memory Deduper and Forgetter, bounded in size: it
// remembers a key for TTL after it was last seen, and at most Max keys,
// forgetting the least recently seen first. It serves tests, and the daemon
// when it has no persistent store; it forgets everything on restart.
type MemoryDeduper struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element
	order list.List // of *memEntry, least recently seen first
}

type memEntry struct {
	key  string
	seen time.Time
}

// Defaults of NewMemoryDeduper.
const (
	DefaultDedupMax = 65536
	DefaultDedupTTL = 24 * time.Hour
)

// NewMemoryDeduper returns a MemoryDeduper that remembers at most max keys,
// each for ttl after it was last seen. Zero or negative values mean
// DefaultDedupMax and DefaultDedupTTL.
func NewMemoryDeduper(max int, ttl time.Duration) *MemoryDeduper {
	if max <= 0 {
		max = DefaultDedupMax
	}
	if ttl <= 0 {
		ttl = DefaultDedupTTL
	}
	return &MemoryDeduper{max: max, ttl: ttl, now: time.Now, keys: make(map[string]*list.Element)}
}

// Seen implements Deduper. Seeing a known key again restarts its TTL, so an
// alert that Alertmanager keeps resending stays a duplicate.
func (d *MemoryDeduper) Seen(_ context.Context, key string) (bool, error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if e, ok := d.keys[key]; ok {
		e.Value.(*memEntry).seen = now
		d.order.MoveToBack(e)
		return false, nil
	}
	for d.order.Len() >= d.max {
		d.remove(d.order.Front())
	}
	d.keys[key] = d.order.PushBack(&memEntry{key: key, seen: now})
	return true, nil
}

// Forget implements Forgetter.
func (d *MemoryDeduper) Forget(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.keys[key]; ok {
		d.remove(e)
	}
	return nil
}

// Len returns how many keys are remembered.
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(d.now())
	return d.order.Len()
}

func (d *MemoryDeduper) expire(now time.Time) {
	for e := d.order.Front(); e != nil && now.Sub(e.Value.(*memEntry).seen) >= d.ttl; e = d.order.Front() {
		d.remove(e)
	}
}

func (d *MemoryDeduper) remove(e *list.Element) {
	delete(d.keys, e.Value.(*memEntry).key)
	d.order.Remove(e)
}
