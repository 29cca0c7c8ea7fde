package inbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// crashChildEnv, when set to a folder, turns the test binary into the child
// of TestCrashAcknowledgedBatchesSurvive (see TestMain).
const crashChildEnv = "CLAUDEOPS_INBOX_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns
	}
	os.Exit(m.Run())
}

// warnCounter is a slog.Handler counting the records at Warn or above.
type warnCounter struct{ n atomic.Int64 }

func (h *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnCounter) WithGroup(string) slog.Handler      { return h }

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", dir, opts, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func replayAll(t testing.TB, l *Log) []Record {
	t.Helper()
	var recs []Record
	if err := l.Replay(func(r Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return recs
}

func mustAppend(t testing.TB, l *Log, data []byte) uint64 {
	t.Helper()
	seq, err := l.Append(context.Background(), data, nil)
	if err != nil {
		t.Fatalf("Append(%q): %v", data, err)
	}
	return seq
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// checkRecords checks that recs are exactly the batches want, numbered from
// first up by one, with their data byte-equal and a receive time.
func checkRecords(t testing.TB, recs []Record, first uint64, want [][]byte) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("replayed %d records (seqs %v), want %d from seq %d", len(recs), seqsOf(recs), len(want), first)
	}
	for i, r := range recs {
		if r.Seq != first+uint64(i) {
			t.Fatalf("record %d: seq %d, want %d (all: %v)", i, r.Seq, first+uint64(i), seqsOf(recs))
		}
		if !bytes.Equal(r.Data, want[i]) {
			t.Errorf("record seq %d: data %q, want %q", r.Seq, r.Data, want[i])
		}
		if r.Received.IsZero() || r.Received.Year() < 2020 {
			t.Errorf("record seq %d: Received %v", r.Seq, r.Received)
		}
	}
}

func seqsOf(recs []Record) []uint64 {
	s := make([]uint64, len(recs))
	for i, r := range recs {
		s[i] = r.Seq
	}
	return s
}

// segFiles returns the first sequence number of every segment file in dir,
// and fails on any other file.
func segFiles(t testing.TB, dir string) []uint64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var firsts []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		first, err := strconv.ParseUint(name, 10, 64)
		if !ok || err != nil || segmentName(first) != e.Name() {
			t.Fatalf("unexpected file %s in %s", e.Name(), dir)
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	return firsts
}

// segSeqs parses a segment file, failing unless it is made of whole intact
// records.
func segSeqs(t testing.TB, dir string, first uint64) []uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, segmentName(first)))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for off := 0; off < len(b); {
		rec, n := parseRecord(b[off:])
		if n == 0 {
			t.Fatalf("segment %d: damaged record at offset %d of %d", first, off, len(b))
		}
		seqs = append(seqs, rec.Seq)
		off += n
	}
	return seqs
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func batchData(i int) []byte {
	// Lengths vary so that a record boundary is not at a fixed stride.
	return fmt.Appendf(nil, `[{"status":"firing","n":%d,"pad":"%s"}]`, i, strings.Repeat("x", i%7))
}

// 1. Everything appended is replayed in order after a reopen; After skips a
// prefix; numbering continues after the last record.
func TestAppendCloseReopenReplay(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, Options{Sync: sync})
			if recs := replayAll(t, l); len(recs) != 0 {
				t.Fatalf("fresh log replayed %v", seqsOf(recs))
			}
			const n = 50
			var want [][]byte
			for i := range n {
				want = append(want, batchData(i))
				if seq := mustAppend(t, l, want[i]); seq != uint64(i+1) {
					t.Fatalf("append %d: seq %d, want %d", i, seq, i+1)
				}
			}
			// Append copies nothing the caller keeps: scribbling over the
			// caller's slice after Append must not change the log.
			scratch := []byte("scribbled-over")
			want = append(want, slices.Clone(scratch))
			mustAppend(t, l, scratch)
			copy(scratch, "XXXXXXXXXXXXXX")
			if st := l.Stats(); (st.Fsyncs == st.Writes) != sync || st.Writes != n+1 {
				t.Errorf("Stats %+v with Sync %v: want %d writes, each fsynced only with Sync", st, sync, n+1)
			}
			mustClose(t, l)

			l = openLog(t, dir, Options{Sync: sync})
			checkRecords(t, replayAll(t, l), 1, want)
			mustClose(t, l)

			for _, k := range []uint64{1, 17, n, n + 1} {
				l = openLog(t, dir, Options{After: k, Sync: sync})
				checkRecords(t, replayAll(t, l), k+1, want[k:])
				mustClose(t, l)
			}

			l = openLog(t, dir, Options{After: 17, Sync: sync})
			checkRecords(t, replayAll(t, l), 18, want[17:])
			more := []byte("after reopen")
			if seq := mustAppend(t, l, more); seq != n+2 {
				t.Fatalf("first append after reopen: seq %d, want %d", seq, n+2)
			}
			mustClose(t, l)
			l = openLog(t, dir, Options{})
			checkRecords(t, replayAll(t, l), 1, append(want, more))
		})
	}
}

// Replay stops at fn's first error and returns it.
func TestReplayStopsAtError(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 100})
	for i := range 10 {
		mustAppend(t, l, batchData(i))
	}
	mustClose(t, l)
	l = openLog(t, dir, Options{})
	stop := errors.New("stop")
	var seen []uint64
	err := l.Replay(func(r Record) error {
		seen = append(seen, r.Seq)
		if r.Seq == 6 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Replay returned %v, want %v", err, stop)
	}
	if !slices.Equal(seen, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("Replay called fn with %v", seen)
	}
}

// 2. Options.After beyond everything in the folder: numbering resumes after
// it (the store is ahead of the folder, or the folder lost its files).
func TestAfterBeyondFolder(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir, Options{After: 100})
		if recs := replayAll(t, l); len(recs) != 0 {
			t.Fatalf("replayed %v", seqsOf(recs))
		}
		if seq := mustAppend(t, l, []byte("a")); seq != 101 {
			t.Fatalf("seq %d, want 101", seq)
		}
		mustClose(t, l)
		l = openLog(t, dir, Options{})
		checkRecords(t, replayAll(t, l), 101, [][]byte{[]byte("a")})
	})
	t.Run("non-empty", func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir, Options{})
		var want [][]byte
		for i := range 5 {
			want = append(want, batchData(i))
			mustAppend(t, l, want[i])
		}
		mustClose(t, l)

		l = openLog(t, dir, Options{After: 100})
		if recs := replayAll(t, l); len(recs) != 0 {
			t.Fatalf("replayed %v with After=100", seqsOf(recs))
		}
		if seq := mustAppend(t, l, []byte("b")); seq != 101 {
			t.Fatalf("seq %d, want 101", seq)
		}
		mustClose(t, l)

		// The folder now holds 1..5 and 101; After=0 must number after 101,
		// not after 5 or 100.
		l = openLog(t, dir, Options{})
		recs := replayAll(t, l)
		if got := seqsOf(recs); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 101}) {
			t.Fatalf("replayed %v", got)
		}
		checkRecords(t, recs[:5], 1, want)
		checkRecords(t, recs[5:], 101, [][]byte{[]byte("b")})
		if seq := mustAppend(t, l, []byte("c")); seq != 102 {
			t.Fatalf("seq %d, want 102", seq)
		}
		mustClose(t, l)
		l = openLog(t, dir, Options{After: 100})
		checkRecords(t, replayAll(t, l), 101, [][]byte{[]byte("b"), []byte("c")})
	})
}

// 3. Concurrent appends share writes, are numbered 1..N without gap or
// repeat, and their commit callbacks run in sequence order with the number
// Append returns.
func TestGroupCommitOrder(t *testing.T) {
	const goroutines, per = 32, 200
	const total = goroutines * per
	dir := t.TempDir()
	l := openLog(t, dir, Options{})

	var mu sync.Mutex
	var order []uint64
	got := make([][]uint64, goroutines) // seqs each goroutine was returned
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				var seen uint64
				calls := 0
				seq, err := l.Append(context.Background(), fmt.Appendf(nil, "g%d-i%d", g, i), func(s uint64) error {
					seen = s
					calls++
					mu.Lock()
					order = append(order, s)
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Errorf("g%d i%d: Append: %v", g, i, err)
					return
				}
				if calls != 1 || seq != seen {
					t.Errorf("g%d i%d: Append returned %d, commit called %d times with %d", g, i, seq, calls, seen)
				}
				got[g] = append(got[g], seq)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	if len(order) != total {
		t.Fatalf("commit called %d times, want %d", len(order), total)
	}
	for i, s := range order {
		if s != uint64(i+1) {
			t.Fatalf("commit call %d had seq %d, want %d (order must be 1,2,3,... with no gap or repeat)", i, s, i+1)
		}
	}
	want := make(map[uint64][]byte, total)
	for g, seqs := range got {
		// One goroutine's appends are sequential: later ones are numbered
		// higher.
		if !slices.IsSorted(seqs) {
			t.Errorf("goroutine %d got seqs out of order: %v", g, seqs)
		}
		for i, s := range seqs {
			if _, dup := want[s]; dup {
				t.Fatalf("seq %d returned twice", s)
			}
			want[s] = fmt.Appendf(nil, "g%d-i%d", g, i)
		}
	}
	st := l.Stats()
	writes, batches := st.Writes, st.Batches
	t.Logf("%d batches in %d writes", batches, writes)
	if batches != total {
		t.Errorf("Stats batches = %d, want %d", batches, total)
	}
	if writes < 1 || writes >= batches {
		t.Errorf("Stats writes = %d for %d batches: no group commit", writes, batches)
	}
	mustClose(t, l)

	l = openLog(t, dir, Options{})
	recs := replayAll(t, l)
	if len(recs) != total {
		t.Fatalf("replayed %d records, want %d", len(recs), total)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("replayed record %d has seq %d", i, r.Seq)
		}
		if !bytes.Equal(r.Data, want[r.Seq]) {
			t.Fatalf("seq %d: replayed %q, its Append wrote %q", r.Seq, r.Data, want[r.Seq])
		}
	}
}

// Concurrent appends with a tiny segment size: groups land across many
// rotations, every segment is whole, named by its first record, and holds
// only numbers below the next segment's name.
func TestConcurrentRotation(t *testing.T) {
	const goroutines, per = 16, 100
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 512})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				if _, err := l.Append(context.Background(), fmt.Appendf(nil, "g%d-i%d", g, i), nil); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	mustClose(t, l)
	firsts := segFiles(t, dir)
	if len(firsts) < 2 {
		t.Fatalf("only %d segment(s) for %d appends of 512-byte segments", len(firsts), goroutines*per)
	}
	var all []uint64
	for i, first := range firsts {
		seqs := segSeqs(t, dir, first)
		if len(seqs) == 0 {
			t.Fatalf("segment %d is empty", first)
		}
		if seqs[0] != first {
			t.Errorf("segment %d starts with seq %d", first, seqs[0])
		}
		if i+1 < len(firsts) && seqs[len(seqs)-1] >= firsts[i+1] {
			t.Errorf("segment %d holds seq %d, not below the next segment %d", first, seqs[len(seqs)-1], firsts[i+1])
		}
		all = append(all, seqs...)
	}
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("segments hold seq %d at position %d", s, i)
		}
	}
	if len(all) != goroutines*per {
		t.Fatalf("segments hold %d records, want %d", len(all), goroutines*per)
	}
}

// 4. A commit error is Append's error; the batch stays written: it is
// replayed at the next Open unless a later batch is marked applied.
func TestCommitErrorIsReturnedButRecordStaysInLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	boom := errors.New("queue full")
	seq, err := l.Append(context.Background(), []byte("refused"), func(uint64) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Append returned %v, want %v", err, boom)
	}
	if seq != 1 {
		t.Errorf("Append returned seq %d with the commit error, want 1", seq)
	}
	// The log goes on.
	if seq := mustAppend(t, l, []byte("next")); seq != 2 {
		t.Fatalf("next append: seq %d, want 2", seq)
	}
	mustClose(t, l)

	l = openLog(t, dir, Options{})
	checkRecords(t, replayAll(t, l), 1, [][]byte{[]byte("refused"), []byte("next")})
	mustClose(t, l)
	// Once batch 2 is applied, the refused batch 1 is not replayed.
	l = openLog(t, dir, Options{After: 2})
	if recs := replayAll(t, l); len(recs) != 0 {
		t.Fatalf("After=2 replayed %v", seqsOf(recs))
	}
}

// An Append whose ctx ends while another write is in progress returns the
// ctx error, but its batch is still written and committed.
func TestCanceledWaiterBatchStillWritten(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	var committed sync.Map
	first := make(chan error, 1)
	go func() {
		_, err := l.Append(context.Background(), []byte("first"), func(seq uint64) error {
			committed.Store(seq, true)
			close(entered)
			<-release // hold the write in progress
			return nil
		})
		first <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	seq, err := l.Append(ctx, []byte("second"), func(seq uint64) error {
		committed.Store(seq, true)
		return nil
	})
	if !errors.Is(err, context.Canceled) || seq != 0 {
		t.Fatalf("Append with a canceled ctx behind a write: %d, %v", seq, err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The first caller wrote the pending batch before returning.
	if _, ok := committed.Load(uint64(2)); !ok {
		t.Fatal("the canceled caller's batch was not committed")
	}
	mustClose(t, l)
	l = openLog(t, dir, Options{})
	checkRecords(t, replayAll(t, l), 1, [][]byte{[]byte("first"), []byte("second")})
}

// A caller that wrote a group hands the next write to a waiting caller and
// returns: it does not go on writing for others while they keep coming
// (its own request answered last). The next leader writes its own batch
// and every other pending one.
func TestLeaderHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openLog(t, t.TempDir(), Options{})
		gateA, gateB := make(chan struct{}), make(chan struct{})
		aDone := make(chan uint64, 1)
		go func() {
			seq, err := l.Append(context.Background(), []byte("a"), func(uint64) error { <-gateA; return nil })
			if err != nil {
				t.Error(err)
			}
			aDone <- seq
		}()
		synctest.Wait() // a leads, its write held in its commit
		var mu sync.Mutex
		var seqs []uint64
		for _, name := range []string{"b", "c"} {
			go func() {
				seq, err := l.Append(context.Background(), []byte(name), func(uint64) error { <-gateB; return nil })
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				seqs = append(seqs, seq)
				mu.Unlock()
			}()
		}
		synctest.Wait() // b and c pending behind a's write
		close(gateA)
		synctest.Wait() // a's write done; b or c leads and is held in its commit
		select {
		case seq := <-aDone:
			if seq != 1 {
				t.Errorf("a is batch %d, want 1", seq)
			}
		default:
			close(gateB) // let it finish
			t.Fatal("a still writing the batches that came after its own")
		}
		close(gateB)
		synctest.Wait()
		slices.Sort(seqs)
		if !slices.Equal(seqs, []uint64{2, 3}) {
			t.Errorf("b and c are batches %v, want [2 3]", seqs)
		}
		if st := l.Stats(); st.Writes != 2 || st.Batches != 3 {
			t.Errorf("%d writes of %d batches, want 2 of 3 (b and c together)", st.Writes, st.Batches)
		}
		mustClose(t, l)
	})
}

// 5. A torn or damaged tail is cut at Open, back to the last intact record.
func TestTornTail(t *testing.T) {
	const n = 6
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, size, lastLen int64)
		intact int // records that survive
	}{
		{"none", func(*testing.T, string, int64, int64) {}, n},
		{"cut-in-last-record", func(t *testing.T, path string, size, _ int64) {
			if err := os.Truncate(path, size-5); err != nil {
				t.Fatal(err)
			}
		}, n - 1},
		{"cut-in-last-header", func(t *testing.T, path string, size, lastLen int64) {
			if err := os.Truncate(path, size-lastLen+10); err != nil {
				t.Fatal(err)
			}
		}, n - 1},
		{"garbage-after-last", func(t *testing.T, path string, _, _ int64) {
			garbage := make([]byte, 10)
			for i := range garbage {
				garbage[i] = byte(rand.IntN(256))
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(garbage); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}, n},
		{"flipped-byte-in-last-data", func(t *testing.T, path string, size, _ int64) {
			flipByte(t, path, size-3)
		}, n - 1},
		{"flipped-byte-in-last-seq", func(t *testing.T, path string, size, lastLen int64) {
			flipByte(t, path, size-lastLen+8)
		}, n - 1},
		{"flipped-byte-in-middle-record", func(t *testing.T, path string, _, _ int64) {
			// Inside record 3's data: records 3.. are cut.
			var off int64
			for i := range 2 {
				off += headerBytes + int64(len(batchData(i)))
			}
			flipByte(t, path, off+headerBytes+1)
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, Options{})
			var want [][]byte
			sizes := []int64{0} // file size after each record
			for i := range n {
				want = append(want, batchData(i))
				mustAppend(t, l, want[i])
				sizes = append(sizes, sizes[i]+headerBytes+int64(len(want[i])))
			}
			mustClose(t, l)
			path := filepath.Join(dir, segmentName(1))
			if got := fileSize(t, path); got != sizes[n] {
				t.Fatalf("file is %d bytes, want %d", got, sizes[n])
			}
			tc.damage(t, path, sizes[n], sizes[n]-sizes[n-1])

			warns := &warnCounter{}
			l = openLog(t, dir, Options{Logger: slog.New(warns)})
			if got := fileSize(t, path); got != sizes[tc.intact] {
				t.Errorf("after Open the file is %d bytes, want %d (cut after record %d)", got, sizes[tc.intact], tc.intact)
			}
			if damaged := tc.name != "none"; damaged != (warns.n.Load() > 0) {
				t.Errorf("damaged=%v but Open logged %d warnings", damaged, warns.n.Load())
			}
			checkRecords(t, replayAll(t, l), 1, want[:tc.intact])

			more := []byte("written after the cut")
			if seq := mustAppend(t, l, more); seq != uint64(tc.intact+1) {
				t.Fatalf("append after the cut: seq %d, want %d", seq, tc.intact+1)
			}
			mustClose(t, l)
			warns = &warnCounter{}
			l = openLog(t, dir, Options{Logger: slog.New(warns)})
			if warns.n.Load() != 0 {
				t.Errorf("second Open logged %d warnings: the cut left damage", warns.n.Load())
			}
			checkRecords(t, replayAll(t, l), 1, append(want[:tc.intact:tc.intact], more))
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A torn tail in the last of several segments cuts only that segment.
func TestTornTailInLastSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 200})
	var want [][]byte
	for i := range 20 {
		want = append(want, batchData(i))
		mustAppend(t, l, want[i])
	}
	mustClose(t, l)
	firsts := segFiles(t, dir)
	if len(firsts) < 3 {
		t.Fatalf("%d segments", len(firsts))
	}
	last := firsts[len(firsts)-1]
	path := filepath.Join(dir, segmentName(last))
	if err := os.Truncate(path, fileSize(t, path)-1); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{SegmentBytes: 200})
	checkRecords(t, replayAll(t, l), 1, want[:19])
	if seq := mustAppend(t, l, []byte("x")); seq != 20 {
		t.Fatalf("seq %d, want 20", seq)
	}
	mustClose(t, l)
	l = openLog(t, dir, Options{})
	checkRecords(t, replayAll(t, l), 1, append(want[:19:19], []byte("x")))
}

// 6. Small segments rotate; Applied removes exactly the segments whose
// records are all applied, never the active one.
func TestRotationAndApplied(t *testing.T) {
	const n = 60
	dir := t.TempDir()
	opts := Options{SegmentBytes: 256}
	l := openLog(t, dir, opts)
	var want [][]byte
	for i := range n {
		want = append(want, batchData(i))
		mustAppend(t, l, want[i])
	}
	firsts := segFiles(t, dir)
	if len(firsts) < 5 {
		t.Fatalf("%d segments for %d appends with SegmentBytes=256", len(firsts), n)
	}
	lastSeq := make(map[uint64]uint64) // segment -> its highest seq
	var all []uint64
	for i, first := range firsts {
		seqs := segSeqs(t, dir, first)
		if len(seqs) == 0 || seqs[0] != first {
			t.Fatalf("segment %d holds %v", first, seqs)
		}
		if i+1 < len(firsts) && fileSize(t, filepath.Join(dir, segmentName(first))) < opts.SegmentBytes {
			t.Errorf("segment %d was closed before reaching SegmentBytes", first)
		}
		lastSeq[first] = seqs[len(seqs)-1]
		all = append(all, seqs...)
	}
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("segments hold %v", all)
		}
	}
	active := firsts[len(firsts)-1]

	// expect: the segments kept after Applied(seq): those holding a record
	// above seq, and the active one.
	expect := func(seq uint64) []uint64 {
		var keep []uint64
		for _, first := range firsts {
			if lastSeq[first] > seq || first == active {
				keep = append(keep, first)
			}
		}
		return keep
	}
	// Applied numbers at a segment's start, middle and end.
	points := []uint64{0, firsts[1] - 2, firsts[1] - 1, firsts[1], firsts[2] + 1, firsts[3] - 1, firsts[3]}
	for _, seq := range points {
		if err := l.Applied(seq); err != nil {
			t.Fatalf("Applied(%d): %v", seq, err)
		}
		if got, want := segFiles(t, dir), expect(seq); !slices.Equal(got, want) {
			t.Fatalf("after Applied(%d): segments %v, want %v", seq, got, want)
		}
		// Another open with After=seq replays everything above it.
		l2, err := Open(dir, Options{After: seq})
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, replayAll(t, l2), seq+1, want[seq:])
		mustClose(t, l2)
	}

	// Everything applied: only the active segment stays, and appends go on.
	if err := l.Applied(n); err != nil {
		t.Fatal(err)
	}
	if got := segFiles(t, dir); !slices.Equal(got, []uint64{active}) {
		t.Fatalf("after Applied(%d): segments %v, want only the active %d", n, got, active)
	}
	if err := l.Applied(n + 1000); err != nil {
		t.Fatal(err)
	}
	if got := segFiles(t, dir); !slices.Equal(got, []uint64{active}) {
		t.Fatalf("after Applied beyond the end: segments %v", got)
	}
	more := [][]byte{[]byte("m1"), []byte("m2")}
	for i, d := range more {
		if seq := mustAppend(t, l, d); seq != uint64(n+1+i) {
			t.Fatalf("seq %d, want %d", seq, n+1+i)
		}
	}
	mustClose(t, l)

	l = openLog(t, dir, Options{After: n, SegmentBytes: 256})
	checkRecords(t, replayAll(t, l), n+1, more)
	// The reopened log rotates and applies too.
	for i := range 20 {
		mustAppend(t, l, batchData(i))
	}
	if got := segFiles(t, dir); len(got) < 3 {
		t.Fatalf("no rotation after reopen: %v", got)
	}
	if err := l.Applied(n + 2 + 20); err != nil {
		t.Fatal(err)
	}
	got := segFiles(t, dir)
	if len(got) != 1 {
		t.Fatalf("after applying everything: segments %v", got)
	}
	if seqs := segSeqs(t, dir, got[0]); seqs[len(seqs)-1] != n+22 {
		t.Fatalf("the segment kept holds %v, not the last record %d", seqs, n+22)
	}
	checkSegments(t, dir)
}

// For every seq, on a fresh log: Applied(seq) keeps exactly the segments
// holding a record above seq (and the active one), and a reopen with
// After=seq replays exactly the records above seq, whether or not Applied
// ran.
func TestAppliedEverySeq(t *testing.T) {
	const n = 30
	opts := Options{SegmentBytes: 256}
	var want [][]byte
	for i := range n {
		want = append(want, batchData(i))
	}
	fill := func(t *testing.T) (string, *Log) {
		dir := t.TempDir()
		l := openLog(t, dir, opts)
		for _, d := range want {
			mustAppend(t, l, d)
		}
		return dir, l
	}
	for seq := uint64(0); seq <= n+1; seq++ {
		dir, l := fill(t)
		firsts := segFiles(t, dir)
		if len(firsts) < 4 {
			t.Fatalf("%d segments", len(firsts))
		}
		var keep []uint64
		for i, first := range firsts {
			seqs := segSeqs(t, dir, first)
			if seqs[len(seqs)-1] > seq || i == len(firsts)-1 {
				keep = append(keep, first)
			}
		}
		// Without Applied: every segment is there, Replay skips by After.
		l2 := openLog(t, dir, Options{After: min(seq, n)})
		checkRecords(t, replayAll(t, l2), min(seq, n)+1, want[min(seq, n):])
		mustClose(t, l2)

		if err := l.Applied(seq); err != nil {
			t.Fatalf("Applied(%d): %v", seq, err)
		}
		if got := segFiles(t, dir); !slices.Equal(got, keep) {
			t.Fatalf("Applied(%d): segments %v, want %v", seq, got, keep)
		}
		mustClose(t, l)
		l = openLog(t, dir, Options{After: min(seq, n)})
		checkRecords(t, replayAll(t, l), min(seq, n)+1, want[min(seq, n):])
		mustClose(t, l)
		// With After=0 the replay starts at the first segment kept.
		l = openLog(t, dir, Options{})
		checkRecords(t, replayAll(t, l), keep[0], want[keep[0]-1:])
		mustClose(t, l)
		checkSegments(t, dir)
	}
}

// checkSegments checks the layout the log relies on: every segment is made
// of whole records numbered up by one, none below its name, all below the
// next segment's name.
func checkSegments(t testing.TB, dir string) {
	t.Helper()
	firsts := segFiles(t, dir)
	for i, first := range firsts {
		seqs := segSeqs(t, dir, first)
		for j, s := range seqs {
			if s < first {
				t.Errorf("segment %d holds seq %d, below its name", first, s)
			}
			if i+1 < len(firsts) && s >= firsts[i+1] {
				t.Errorf("segment %d holds seq %d, not below the next segment %d", first, s, firsts[i+1])
			}
			if j > 0 && s <= seqs[j-1] {
				t.Errorf("segment %d holds seq %d after %d", first, s, seqs[j-1])
			}
		}
	}
}

// A last segment left empty (its only write torn by a crash) still bounds
// the numbers from below: appends after a reopen are numbered from its
// name, so every segment keeps only numbers below the next one's name and
// Applied and Replay stay right.
func TestEmptyLastSegmentKeepsNumbering(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 150}
	l := openLog(t, dir, opts)
	var want [][]byte
	for i := range 3 {
		want = append(want, batchData(i))
		mustAppend(t, l, want[i])
	}
	mustClose(t, l)
	// The store is ahead: numbering jumps to 50, in a new segment.
	l = openLog(t, dir, Options{After: 49, SegmentBytes: 150})
	if seq := mustAppend(t, l, []byte("fifty")); seq != 50 {
		t.Fatalf("seq %d, want 50", seq)
	}
	mustClose(t, l)
	if got := segFiles(t, dir); !slices.Equal(got, []uint64{1, 50}) {
		t.Fatalf("segments %v, want [1 50]", got)
	}
	// A crash tears the only record of segment 50.
	if err := os.Truncate(filepath.Join(dir, segmentName(50)), 7); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, opts)
	checkRecords(t, replayAll(t, l), 1, want)
	seq := mustAppend(t, l, []byte("after the tear"))
	if seq < 50 {
		t.Errorf("append after the tear numbered %d, below the name of the segment it went to (50)", seq)
	}
	checkSegments(t, dir)
	// Applied(seq-1) must not drop the segment holding seq.
	if err := l.Applied(seq - 1); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = openLog(t, dir, Options{After: seq - 1})
	checkRecords(t, replayAll(t, l), seq, [][]byte{[]byte("after the tear")})
}

// 7. Append after Close fails with ErrClosed; an oversized batch is refused
// without being written.
func TestClosedAndOversized(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	big := make([]byte, MaxBatchBytes+1)
	seq, err := l.Append(context.Background(), big, func(uint64) error {
		t.Error("commit called for a refused batch")
		return nil
	})
	if err == nil || seq != 0 {
		t.Fatalf("Append of %d bytes: %d, %v", len(big), seq, err)
	}
	if errors.Is(err, ErrClosed) {
		t.Fatalf("oversized batch refused as closed: %v", err)
	}
	if st := l.Stats(); st.Writes != 0 || st.Batches != 0 {
		t.Fatalf("oversized batch written: Stats %+v", st)
	}
	if seq := mustAppend(t, l, []byte("ok")); seq != 1 {
		t.Fatalf("seq %d after a refused batch, want 1", seq)
	}
	mustClose(t, l)
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	seq, err = l.Append(context.Background(), []byte("late"), func(uint64) error {
		t.Error("commit called after Close")
		return nil
	})
	if !errors.Is(err, ErrClosed) || seq != 0 {
		t.Fatalf("Append after Close: %d, %v; want ErrClosed", seq, err)
	}
	l = openLog(t, dir, Options{})
	checkRecords(t, replayAll(t, l), 1, [][]byte{[]byte("ok")})
}

// A failed write fails every Append in its group, calls no commit, and
// uses no sequence number: the next batch written gets the number the failed
// one would have had, so the log has no gap.
func TestFailedWriteLeavesNoGap(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	mustAppend(t, l, []byte("one"))
	// No write is in progress: the test owns l.f. A read-only descriptor
	// makes write(2) fail (EBADF) without writing anything.
	good := l.f
	ro, err := os.Open(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	l.f = ro
	seq, err := l.Append(context.Background(), []byte("failed"), func(uint64) error {
		t.Error("commit called for a batch whose write failed")
		return nil
	})
	l.f = good
	_ = ro.Close()
	if err == nil {
		t.Fatalf("Append on a failing file returned seq %d and no error", seq)
	}
	if seq := mustAppend(t, l, []byte("two")); seq != 2 {
		t.Fatalf("append after a failed write: seq %d, want 2", seq)
	}
	mustClose(t, l)
	l = openLog(t, dir, Options{})
	checkRecords(t, replayAll(t, l), 1, [][]byte{[]byte("one"), []byte("two")})
}

// crashChild appends from eight goroutines and prints "ok <seq>" once each
// Append returned. It runs until killed (or for at most 30 s).
func crashChild(dir string) {
	l, err := Open(dir, Options{SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Stdout.WriteString("ready\n")
	deadline := time.Now().Add(30 * time.Second)
	for g := range 8 {
		go func() {
			for i := 0; time.Now().Before(deadline); i++ {
				seq, err := l.Append(context.Background(), fmt.Appendf(nil, `[{"status":"firing","g":%d,"i":%d}]`, g, i), nil)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				// One write(2) per line; a pipe keeps it whole.
				os.Stdout.WriteString("ok " + strconv.FormatUint(seq, 10) + "\n")
			}
		}()
	}
	time.Sleep(time.Until(deadline))
	os.Exit(0)
}

// runAndKill starts a child appending in dir, SIGKILLs it d after it is
// ready and returns the sequence numbers it acknowledged.
func runAndKill(t *testing.T, dir string, d time.Duration) []uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() { // the child only, by its pid, whatever happens
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return // a line cut short by the kill is not an acknowledgement
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	select {
	case l, ok := <-lines:
		if !ok || l != "ready" {
			t.Fatalf("child did not start: %q", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child not ready after 20 s")
	}
	time.Sleep(d) // the moment of the crash, not a synchronisation
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var acked []uint64
	for l := range lines { // until EOF: the child is dead
		s, ok := strings.CutPrefix(l, "ok ")
		if !ok {
			t.Fatalf("child printed %q", l)
		}
		seq, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", l)
		}
		acked = append(acked, seq)
	}
	err = cmd.Wait()
	waited = true
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not by our SIGKILL", err)
	}
	return acked
}

// 8. A child appending from eight goroutines is SIGKILLed at a random
// moment: every batch it acknowledged is replayed, and the log is numbered
// 1, 2, 3... without repeat across all the rounds.
func TestCrashAcknowledgedBatchesSurvive(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	dir := t.TempDir()
	totalAcked, torn := 0, int64(0)
	for round := range rounds {
		acked := runAndKill(t, dir, time.Duration(20+rand.IntN(131))*time.Millisecond)
		totalAcked += len(acked)

		warns := &warnCounter{}
		l, err := Open(dir, Options{Logger: slog.New(warns)})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		torn += warns.n.Load()
		recs := replayAll(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		checkSegments(t, dir)
		have := make(map[uint64]bool, len(recs))
		for i, r := range recs {
			if have[r.Seq] {
				t.Fatalf("round %d: seq %d replayed twice", round, r.Seq)
			}
			have[r.Seq] = true
			if r.Seq != uint64(i+1) {
				t.Fatalf("round %d: record %d has seq %d: a gap or a reordering", round, i, r.Seq)
			}
			if !bytes.HasPrefix(r.Data, []byte(`[{"status":"firing","g":`)) {
				t.Fatalf("round %d: seq %d data %q", round, r.Seq, r.Data)
			}
		}
		seen := make(map[uint64]bool, len(acked))
		for _, s := range acked {
			if seen[s] {
				t.Errorf("round %d: seq %d acknowledged twice", round, s)
			}
			seen[s] = true
			if !have[s] {
				t.Errorf("round %d: acknowledged seq %d lost (%d replayed)", round, s, len(recs))
			}
		}
	}
	t.Logf("%d rounds, %d acknowledged batches, all replayed; %d segment(s) cut at reopen", rounds, totalAcked, torn)
	if totalAcked == 0 {
		t.Error("the children never acknowledged a batch")
	}
	if len(segFiles(t, dir)) < 2 {
		t.Log("the crash rounds never rotated a segment")
	}
}

// 9. Parallel appends of ~1 KB batches; batches/write shows the grouping.
func BenchmarkAppend(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{})
	data := bytes.Repeat([]byte("x"), 1000)
	b.SetBytes(int64(len(data)))
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), data, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := l.Stats()
	writes, batches := st.Writes, st.Batches
	if writes > 0 {
		b.ReportMetric(float64(batches)/float64(writes), "batches/write")
	}
}
