// Package inbox is the webhook's durable inbox: an append-only log of
// batches (the alerts one webhook request delivered) in segment files under
// a folder of their own.
//
// Append returns once its batch is written: many concurrent appends go to
// the file in one write(2) (group commit). A written batch survives a kill -9
// of the daemon (the kernel's page cache holds it); with Options.Sync
// (--webhook.inbox-fsync) it also survives a power loss, at the price of an
// fsync per group.
//
// Every batch gets a sequence number, increasing by one. What the batches
// produced is saved elsewhere (the remediator's incidents, in the store)
// together with the highest sequence number applied; Open takes that number
// back (Options.After) and Replay hands over only the batches after it, so a
// batch is applied exactly once whatever the moment of a crash. Applied lets
// go of the segment files wholly applied.
//
// The log never shares a lock or a file with the store: an append never
// waits behind a save.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSegmentBytes is the size past which the log starts a new segment.
const DefaultSegmentBytes = 4 << 20

// MaxBatchBytes is the largest batch Append takes.
const MaxBatchBytes = 64 << 20

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("inbox: closed")

// Options configure a Log.
type Options struct {
	// After is the highest sequence number whose batch was applied and
	// saved (0: none): Replay skips those, and new batches are numbered
	// after it even when the folder lost its files.
	After uint64
	// SegmentBytes is the size past which a new segment file is started; 0
	// means DefaultSegmentBytes.
	SegmentBytes int64
	// Sync makes every group of batches wait for an fsync.
	Sync bool
	// Logger reports the records cut off at Open (a torn last write, a
	// damaged file); nil logs nothing.
	Logger *slog.Logger
}

// Log is the inbox. Make one with Open.
type Log struct {
	dir    string
	opts   Options
	logger *slog.Logger

	mu       sync.Mutex
	idle     *sync.Cond // on mu: flushing went false
	pending  []*request
	flushing bool
	closed   bool

	// Owned by the flusher (flushing set), or by Open and Close.
	f    *os.File // the active segment, the last of segs
	size int64    // its size
	next uint64   // sequence number of the next batch
	buf  []byte
	err  error // a write that could not be undone: every append fails

	segMu sync.Mutex
	segs  []uint64 // the first sequence number of each segment, ascending

	commits, batches, syncs atomic.Int64
}

type request struct {
	data   []byte
	commit func(seq uint64) error
	seq    uint64
	err    error
	// done is closed when the batch is written and committed, or when its
	// caller is to lead the writes (lead set first).
	done chan struct{}
	// lead: the caller writes the pending batches, its own first (on mu).
	lead bool
	// gone: the caller stopped waiting (its ctx ended); it is never made to
	// lead (on mu).
	gone bool
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d.log", first) }

// Open opens the log in dir, creating dir (mode 0700) if needed. A record
// cut short or damaged ends its segment: the segment is truncated there,
// and logged (a kill -9 can tear the last write; nothing acknowledged is in
// a torn write).
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	l := &Log{dir: dir, opts: opts, logger: opts.Logger, next: opts.After + 1}
	l.idle = sync.NewCond(&l.mu)
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || segmentName(first) != e.Name() {
			continue
		}
		l.segs = append(l.segs, first)
	}
	slices.Sort(l.segs)
	for i, first := range l.segs {
		last, size, err := l.check(first)
		if err != nil {
			return nil, err
		}
		l.next = max(l.next, first, last+1)
		if i == len(l.segs)-1 {
			l.size = size
		}
	}
	if len(l.segs) == 0 {
		if err := l.create(); err != nil {
			return nil, err
		}
		return l, nil
	}
	// Append to the last segment. Its name is a lower bound of the numbers
	// in it; every number in a segment is below the next segment's name.
	last := filepath.Join(dir, segmentName(l.segs[len(l.segs)-1]))
	if l.f, err = os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return l, nil
}

// check reads a segment and truncates it after its last intact record; it
// returns that record's sequence number (0 if none) and the size kept.
func (l *Log) check(first uint64) (last uint64, size int64, err error) {
	path := filepath.Join(l.dir, segmentName(first))
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("inbox: %w", err)
	}
	off := 0
	for off < len(b) {
		rec, n := parseRecord(b[off:])
		if n == 0 {
			break
		}
		last = rec.Seq
		off += n
	}
	if off < len(b) {
		l.logger.Warn("inbox: segment cut after its last intact record (a write torn by a crash, or a damaged file)",
			"file", path, "kept_bytes", off, "dropped_bytes", len(b)-off)
		if err := os.Truncate(path, int64(off)); err != nil {
			return 0, 0, fmt.Errorf("inbox: %w", err)
		}
	}
	return last, int64(off), nil
}

// create starts a new segment numbered l.next and makes it the active one.
func (l *Log) create() error {
	path := filepath.Join(l.dir, segmentName(l.next))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	if l.opts.Sync {
		if err := syncDir(l.dir); err != nil {
			_ = f.Close()
			return err
		}
	}
	if l.f != nil {
		_ = l.f.Close()
	}
	l.f, l.size = f, 0
	l.segMu.Lock()
	if n := len(l.segs); n == 0 || l.segs[n-1] != l.next {
		l.segs = append(l.segs, l.next)
	}
	l.segMu.Unlock()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	return nil
}

// Replay calls fn with every batch after Options.After, in order, and stops
// at fn's first error. Call it before the first Append.
func (l *Log) Replay(fn func(Record) error) error {
	l.segMu.Lock()
	segs := slices.Clone(l.segs)
	l.segMu.Unlock()
	for i, first := range segs {
		if i+1 < len(segs) && segs[i+1] <= l.opts.After+1 {
			continue // wholly applied
		}
		b, err := os.ReadFile(filepath.Join(l.dir, segmentName(first)))
		if err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		for off := 0; off < len(b); {
			rec, n := parseRecord(b[off:])
			if n == 0 {
				break // Open cut the segment here; only a concurrent Append writes past it
			}
			off += n
			if rec.Seq <= l.opts.After {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// Append writes a batch and returns its sequence number once it is written.
// commit, if not nil, is called with that number after the write and
// before Append returns, in sequence order across all appends (the caller
// queues the batch there, so batches are queued in the order they are
// numbered); its error is Append's. It runs while the write holds the log:
// it must not call Append or Close. The first caller that finds no write in
// progress writes every batch pending, including those that arrive while
// it yields once; the others wait. When more are pending after its write,
// it hands the next write to one of their callers and returns: under a
// steady load no caller writes for others for long (a leader writing until
// nothing was pending answered its own request last). A caller whose ctx
// ends stops waiting, but its batch may still be written and committed.
func (l *Log) Append(ctx context.Context, data []byte, commit func(seq uint64) error) (uint64, error) {
	if len(data) > MaxBatchBytes {
		return 0, fmt.Errorf("inbox: batch of %d bytes, more than %d", len(data), MaxBatchBytes)
	}
	r := &request{data: data, commit: commit, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	l.pending = append(l.pending, r)
	if l.flushing {
		l.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			l.mu.Lock()
			if !r.lead {
				r.gone = true
				l.mu.Unlock()
				return 0, ctx.Err()
			}
			l.mu.Unlock()
			<-r.done // made to lead meanwhile: it must
		}
		if !r.lead {
			return r.seq, r.err
		}
	} else {
		l.flushing, r.lead = true, true
		l.mu.Unlock()
	}
	// Lead: let the requests about to append join this write (under load a
	// write otherwise carries one batch or two), write, then hand over.
	runtime.Gosched()
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	l.write(batch)
	l.mu.Lock()
	if next := l.nextLeader(); next != nil {
		next.lead = true
		close(next.done)
	} else {
		l.flushing = false
		l.idle.Broadcast()
	}
	l.mu.Unlock()
	return r.seq, r.err
}

// nextLeader picks the caller to write the pending batches, nil if none is
// pending; on mu. When only callers that stopped waiting are pending, the
// one who asks writes them itself.
func (l *Log) nextLeader() *request {
	for len(l.pending) > 0 {
		for _, p := range l.pending {
			if !p.gone {
				return p
			}
		}
		batch := l.pending
		l.pending = nil
		l.mu.Unlock()
		l.write(batch)
		l.mu.Lock()
	}
	return nil
}

// write writes a group of batches in one write(2), then commits them in
// order.
func (l *Log) write(batch []*request) {
	l.commits.Add(1)
	l.batches.Add(int64(len(batch)))
	err := l.err
	if err == nil && l.size >= l.opts.SegmentBytes {
		err = l.create()
	}
	if err == nil {
		now := time.Now().UnixNano()
		b := l.buf[:0]
		for i, r := range batch {
			b = appendRecord(b, l.next+uint64(i), now, r.data)
		}
		if cap(b) <= 4*DefaultSegmentBytes {
			l.buf = b
		}
		err = l.writeAll(b)
	}
	for i, r := range batch {
		if err != nil {
			r.err = err
		} else {
			r.seq = l.next + uint64(i)
			if r.commit != nil {
				r.err = r.commit(r.seq)
			}
		}
		if !r.lead { // a leader's done is closed already, or never waited on
			close(r.done)
		}
	}
	if err == nil {
		l.next += uint64(len(batch))
	}
}

// writeAll writes b at the end of the active segment; on a failure it
// takes back what was written, so the file ends with whole records.
func (l *Log) writeAll(b []byte) error {
	n, err := l.f.Write(b)
	if err == nil && l.opts.Sync {
		err = l.f.Sync()
		l.syncs.Add(1)
	}
	if err == nil {
		l.size += int64(n)
		return nil
	}
	err = fmt.Errorf("inbox: write: %w", err)
	if n > 0 {
		if terr := l.f.Truncate(l.size); terr != nil {
			// The file may end in a part of a record that later ones would
			// follow: refuse every append until a restart cuts it off.
			l.err = fmt.Errorf("inbox: a failed write could not be undone (%w); restart the daemon", terr)
			l.logger.Error("inbox unusable until restart", "err", l.err)
		}
	}
	return err
}

// Applied lets go of the segments whose batches all have a sequence number
// up to seq: their batches are applied and saved. The active segment stays.
func (l *Log) Applied(seq uint64) error {
	l.segMu.Lock()
	var drop []uint64
	for len(l.segs) > 1 && l.segs[1] <= seq+1 {
		drop = append(drop, l.segs[0])
		l.segs = l.segs[1:]
	}
	l.segMu.Unlock()
	var errs []error
	for _, first := range drop {
		if err := os.Remove(filepath.Join(l.dir, segmentName(first))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	return nil
}

// Stats are counts of a Log's work since it was opened.
type Stats struct {
	// Writes is how many writes the appends took; Batches how many batches
	// they carried; Fsyncs how many of the writes were fsynced
	// (Options.Sync).
	Writes, Batches, Fsyncs int64
}

// Stats returns what the Log did since it was opened.
func (l *Log) Stats() Stats {
	return Stats{Writes: l.commits.Load(), Batches: l.batches.Load(), Fsyncs: l.syncs.Load()}
}

// Close waits for the write in progress and closes the active segment;
// Append fails afterwards.
func (l *Log) Close() error {
	l.mu.Lock()
	l.closed = true
	for l.flushing {
		l.idle.Wait()
	}
	l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	return nil
}
