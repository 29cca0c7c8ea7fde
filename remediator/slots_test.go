package remediator

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestPickRunnable(t *testing.T) {
	reqs := func(spec ...string) []slotReq { // "id:service"
		var out []slotReq
		for _, s := range spec {
			var r slotReq
			for i := range s {
				if s[i] == ':' {
					r = slotReq{s[:i], s[i+1:]}
				}
			}
			out = append(out, r)
		}
		return out
	}
	ids := func(rs []slotReq) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.id)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		pending   []slotReq
		free      int
		busy      []string
		run, keep []string
	}{
		{"none pending", nil, 2, nil, nil, nil},
		{"arrival order within the free slots", reqs("a:web", "b:db", "c:dns"), 2, nil, []string{"a", "b"}, []string{"c"}},
		{"no free slot", reqs("a:web"), 0, nil, nil, []string{"a"}},
		{"negative free (more running than allowed)", reqs("a:web"), -1, nil, nil, []string{"a"}},
		{"a busy service waits, the next one goes", reqs("a:web", "b:db"), 1, []string{"web"}, []string{"b"}, []string{"a"}},
		{"one per service", reqs("a:web", "b:web", "c:db"), 3, nil, []string{"a", "c"}, []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			busy := map[string]bool{}
			for _, s := range tc.busy {
				busy[s] = true
			}
			run, keep := pickRunnable(tc.pending, tc.free, busy)
			if !slices.Equal(ids(run), tc.run) || !slices.Equal(ids(keep), tc.keep) {
				t.Errorf("run %v keep %v; want %v, %v", ids(run), ids(keep), tc.run, tc.keep)
			}
		})
	}
}

func TestBlastAdmit(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	started := func(n int, ago time.Duration) map[string]time.Time {
		m := map[string]time.Time{}
		for i := range n {
			m[fmt.Sprintf("s%d", i)] = now.Add(-ago)
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		started  map[string]time.Time
		service  string
		limit    int
		ok       bool
		inWindow int
	}{
		{"empty", nil, "web", 5, true, 0},
		{"under the limit", started(4, time.Minute), "web", 5, true, 4},
		{"at the limit", started(5, time.Minute), "web", 5, false, 5},
		{"at the limit, a service already in the window", started(5, time.Minute), "s3", 5, true, 5},
		{"starts older than the window do not count", started(5, blastWindow), "web", 5, true, 0},
		{"just inside the window", started(5, blastWindow-time.Second), "web", 5, false, 5},
		{"no limit", started(50, time.Minute), "web", -1, true, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, n := blastAdmit(tc.started, tc.service, now, tc.limit)
			if ok != tc.ok || n != tc.inWindow {
				t.Errorf("blastAdmit = %v, %d; want %v, %d", ok, n, tc.ok, tc.inWindow)
			}
		})
	}
}

// slots keeps its books: a session start reserves the service in the
// window and makes it busy, its end frees the slot; incidents that stopped
// waiting are dropped from the queue.
func TestSlots(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newSlots(1, 2)
	if ok, _ := s.admit("web", now); !ok {
		t.Fatal("web refused")
	}
	if ok, _ := s.admit("db", now); !ok {
		t.Fatal("db refused")
	}
	if ok, detail := s.admit("dns", now); ok || detail != "sessions already started for 2 distinct services in the last hour (limit 2)" {
		t.Fatalf("dns admitted (%q)", detail)
	}
	waiting := map[string]string{"i1": "web", "i2": "db", "i3": "dns"}
	lookup := func(id string) (string, bool) { svc, ok := waiting[id]; return svc, ok }
	s.enqueue("i1")
	s.enqueue("i1") // once
	s.enqueue("i2")
	s.enqueue("i3")
	delete(waiting, "i3") // closed meanwhile
	if got := s.next(lookup); !slices.Equal(got, []string{"i1"}) {
		t.Fatalf("next = %v, want [i1]", got)
	}
	s.start("web", now)
	if got := s.next(lookup); len(got) != 0 {
		t.Fatalf("next with no free slot = %v", got)
	}
	s.release("web")
	if got := s.next(lookup); !slices.Equal(got, []string{"i2"}) {
		t.Fatalf("next = %v, want [i2]", got)
	}
	if len(s.pending) != 0 || len(s.queued) != 0 {
		t.Errorf("pending %v, queued %v", s.pending, s.queued)
	}
	// An hour later the window is free again.
	if ok, _ := s.admit("dns", now.Add(blastWindow)); !ok {
		t.Error("dns refused an hour later")
	}
}
