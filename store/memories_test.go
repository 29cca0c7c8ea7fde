package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMemories(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()

	for _, bad := range []Memory{
		{SessionID: "s", Created: t0},
		{Service: "web", Created: t0},
		{Service: "web", SessionID: "s"},
	} {
		if err := s.SaveMemories(ctx, []Memory{bad}); err == nil {
			t.Errorf("SaveMemories(%+v) accepted", bad)
		}
	}

	ms := []Memory{
		{Service: "web", Observation: "pool exhausted; restart fixes", Confidence: 0.8, Score: 1.8, Verdict: "confirmed",
			IncidentID: "inc-1", Outcome: "remediated", SessionID: "s1", Seq: 0, Tier: 2, Created: t0, Scored: t0.Add(time.Minute)},
		{Service: "db", Observation: "disk full", Confidence: 0.5, Score: 0, Verdict: "unverified",
			IncidentID: "inc-1", Outcome: "remediated", SessionID: "s1", Seq: 1, Tier: 2, Created: t0, Scored: t0.Add(time.Minute)},
		{Service: "Web", Observation: "DNS is the cause", Confidence: 0.9, Score: -1.9, Verdict: "wrong_lead",
			IncidentID: "inc-2", Outcome: "needs_human", SessionID: "s2", Seq: 0, Tier: 3, Created: t0.Add(time.Hour)},
		{Service: "web", Observation: "newer, unverified", Confidence: 0.3, Score: 0, Verdict: "unverified",
			IncidentID: "inc-3", Outcome: "resolved", SessionID: "s3", Seq: 0, Tier: 2, Created: t0.Add(2 * time.Hour)},
	}
	if err := s.SaveMemories(ctx, ms); err != nil {
		t.Fatal(err)
	}
	// Saving again (a close replayed after a crash) changes nothing.
	if err := s.SaveMemories(ctx, ms[:1]); err != nil {
		t.Fatal(err)
	}

	// Memories survive a restart.
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	all, err := s.ListMemories(ctx, MemoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("%d memories after a reopen, want 4: %+v", len(all), all)
	}
	got := all[0]
	want := ms[0]
	want.ID = got.ID
	if got.ID == 0 || got.Service != want.Service || got.Observation != want.Observation || got.Confidence != want.Confidence ||
		got.Score != want.Score || got.Verdict != want.Verdict || got.IncidentID != want.IncidentID || got.Outcome != want.Outcome ||
		got.SessionID != want.SessionID || got.Tier != want.Tier || !got.Created.Equal(want.Created) || !got.Scored.Equal(want.Scored) {
		t.Errorf("best memory = %+v, want %+v", got, want)
	}

	// By service, case-insensitively, best first: score, then newest.
	web, err := s.ListMemories(ctx, MemoryQuery{Service: "WEB"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(observations(web)) != "[pool exhausted; restart fixes newer, unverified DNS is the cause]" {
		t.Errorf("web memories: %q", observations(web))
	}
	top, err := s.ListMemories(ctx, MemoryQuery{Service: "web", NonNegative: true, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(observations(top)) != "[pool exhausted; restart fixes newer, unverified]" {
		t.Errorf("top web memories: %q", observations(top))
	}

	counts, err := s.CountMemories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 2 || counts["db"] != 1 || counts["web"]+counts["Web"] != 3 {
		t.Errorf("counts = %v", counts)
	}

	if err := s.DeleteMemory(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMemory(ctx, got.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if web, _ := s.ListMemories(ctx, MemoryQuery{Service: "web"}); len(web) != 2 {
		t.Errorf("%d web memories after the delete, want 2", len(web))
	}
}

// TestMemoriesBounded: a service keeps its MaxMemoriesPerService best.
func TestMemoriesBounded(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var ms []Memory
	for i := range MaxMemoriesPerService + 10 {
		score := 0.0
		if i < 10 {
			score = -1 // the worst go first
		}
		ms = append(ms, Memory{Service: "web", Observation: fmt.Sprint(i), Score: score, SessionID: "s", Seq: i,
			Created: t0.Add(time.Duration(i) * time.Minute)})
	}
	if err := s.SaveMemories(ctx, ms); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListMemories(ctx, MemoryQuery{Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxMemoriesPerService {
		t.Fatalf("%d kept, want %d", len(got), MaxMemoriesPerService)
	}
	for _, m := range got {
		if m.Score < 0 {
			t.Errorf("kept %+v, a negative one", m)
		}
	}
}

func observations(ms []Memory) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Observation)
	}
	return out
}
