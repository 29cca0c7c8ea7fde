package webhook

import (
	"context"
	"sync"
	"time"
)

// Deduper remembers the alerts already handled. Seen records key and reports
// whether it was new; of concurrent callers with the same key exactly one
// must get first == true.
type Deduper interface {
	Seen(ctx context.Context, key Key) (first bool, err error)
}

// Forgetter is implemented by a Deduper that can drop a key again. When the
// queue refuses a request's alerts, the handler forgets the keys the request
// marked, so that Alertmanager's retry of the request is handled as new. A
// Deduper that is not a Forgetter loses those alerts: the retry is taken for a
// duplicate.
type Forgetter interface {
	Forget(ctx context.Context, key Key) error
}

// MemoryDeduper is an in-memory Deduper and Forgetter, bounded in size: it
// remembers a key for TTL after it was last seen, and at most Max keys,
// forgetting the least recently seen first. It forgets everything on
// restart. A key costs about 90 bytes.
type MemoryDeduper struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	keys map[Key]seenAt
	// order lists the keys by when they were seen, least recent first; a
	// key seen again is appended again, and only its entry with the
	// key's current gen counts (the others are skipped as they come up).
	order []orderEntry
	head  int    // order[:head] is gone
	gen   uint64 // of the last Seen
}

type seenAt struct {
	gen uint64
	ns  int64 // Unix nanoseconds
}

type orderEntry struct {
	key Key
	gen uint64
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
	return &MemoryDeduper{max: max, ttl: ttl, now: time.Now, keys: make(map[Key]seenAt)}
}

// Seen implements Deduper. Seeing a known key again restarts its TTL, so an
// alert that Alertmanager keeps resending stays a duplicate.
func (d *MemoryDeduper) Seen(_ context.Context, key Key) (bool, error) {
	now := d.now().UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	_, known := d.keys[key]
	for !known && len(d.keys) >= d.max {
		d.pop()
	}
	d.gen++
	d.keys[key] = seenAt{gen: d.gen, ns: now}
	d.order = append(d.order, orderEntry{key: key, gen: d.gen})
	d.compact()
	return !known, nil
}

// Forget implements Forgetter.
func (d *MemoryDeduper) Forget(_ context.Context, key Key) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.keys, key) // its entries in order are skipped
	return nil
}

// Len returns how many keys are remembered.
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(d.now().UnixNano())
	return len(d.keys)
}

// expire forgets the keys last seen ttl or longer before now.
func (d *MemoryDeduper) expire(now int64) {
	for d.head < len(d.order) {
		e := d.order[d.head]
		if s, ok := d.keys[e.key]; ok && s.gen == e.gen && now-s.ns < int64(d.ttl) {
			return // the least recently seen key is still fresh
		}
		d.pop()
	}
}

// pop drops the first entry of order, and its key if the entry is current.
func (d *MemoryDeduper) pop() {
	e := d.order[d.head]
	d.order[d.head] = orderEntry{}
	d.head++
	if s, ok := d.keys[e.key]; ok && s.gen == e.gen {
		delete(d.keys, e.key)
	}
}

// compact drops the skipped entries once they are as many as the keys.
func (d *MemoryDeduper) compact() {
	if len(d.order)-d.head <= 2*len(d.keys)+64 && d.head <= len(d.order)/2 {
		return
	}
	live := d.order[:0]
	for _, e := range d.order[d.head:] {
		if s, ok := d.keys[e.key]; ok && s.gen == e.gen {
			live = append(live, e)
		}
	}
	clear(d.order[len(live):])
	d.order, d.head = live, 0
}
