package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestProbePlans(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	if _, err := s.LatestPlan(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no plan yet: err = %v, want ErrNotFound", err)
	}
	for _, bad := range []ProbePlan{
		{ReposHash: "h", Plan: json.RawMessage(`{}`)},
		{MadeAt: t0, Plan: json.RawMessage(`{}`)},
		{MadeAt: t0, ReposHash: "h", Plan: json.RawMessage(`{`)},
	} {
		if _, err := s.SavePlan(ctx, bad); err == nil {
			t.Errorf("SavePlan(%+v) accepted", bad)
		}
	}
	var last int64
	for i := range KeepPlans + 3 {
		v, err := s.SavePlan(ctx, ProbePlan{MadeAt: t0.Add(time.Duration(i) * time.Minute), SessionID: "s",
			ReposHash: "sha256:abc", Plan: json.RawMessage(`{"n":` + string(rune('0'+i%10)) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		if v <= last {
			t.Fatalf("version %d after %d", v, last)
		}
		last = v
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM probe_plans`).Scan(&n); err != nil || n != KeepPlans {
		t.Errorf("%d plans kept (%v), want %d", n, err, KeepPlans)
	}

	// The latest survives a reopen, exactly.
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p, err := s2.LatestPlan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := ProbePlan{Version: last, MadeAt: t0.Add((KeepPlans + 2) * time.Minute), SessionID: "s", ReposHash: "sha256:abc",
		Plan: json.RawMessage(`{"n":2}`)}
	if p.Version != want.Version || !p.MadeAt.Equal(want.MadeAt) || p.SessionID != want.SessionID ||
		p.ReposHash != want.ReposHash || string(p.Plan) != string(want.Plan) {
		t.Errorf("latest plan = %+v, want %+v", p, want)
	}
}
