package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

func TestTier1State(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	st, err := s.LoadTier1(ctx)
	if err != nil || !reflect.DeepEqual(st, Tier1State{}) {
		t.Fatalf("never ran: %+v, %v", st, err)
	}
	good := &session.Tier1Result{Summary: "all fine", Services: []session.Service{
		{Name: "web", Checks: []session.Check{{Name: "http", Type: "http", Status: "ok", LatencyMS: 12.5, Detail: "200"}}},
	}}
	if err := s.SaveTier1(ctx, Tier1State{SessionID: "s1", RunAt: t0, Success: true, Result: good}); err != nil {
		t.Fatal(err)
	}
	// A failed run moves last-run only.
	if err := s.SaveTier1(ctx, Tier1State{SessionID: "s2", RunAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	st, err = s.LoadTier1(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Tier1State{SessionID: "s1", RunAt: t0.Add(time.Minute), LastRun: t0.Add(time.Minute),
		LastSuccess: t0, Success: false, Result: good}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("after a failed run:\n got %+v\nwant %+v", st, want)
	}
	// An older success arriving late does not move anything backwards.
	old := &session.Tier1Result{Summary: "old"}
	if err := s.SaveTier1(ctx, Tier1State{SessionID: "s0", RunAt: t0.Add(-time.Minute), Success: true, Result: old}); err != nil {
		t.Fatal(err)
	}
	if st, _ = s.LoadTier1(ctx); !reflect.DeepEqual(st, want) {
		t.Errorf("after a late old run:\n got %+v\nwant %+v", st, want)
	}
	// A new success replaces the result.
	newer := &session.Tier1Result{Summary: "newer", Services: []session.Service{}}
	if err := s.SaveTier1(ctx, Tier1State{SessionID: "s3", RunAt: t0.Add(2 * time.Minute), Success: true, Result: newer}); err != nil {
		t.Fatal(err)
	}
	st, _ = s.LoadTier1(ctx)
	want = Tier1State{SessionID: "s3", RunAt: t0.Add(2 * time.Minute), LastRun: t0.Add(2 * time.Minute),
		LastSuccess: t0.Add(2 * time.Minute), Success: true, Result: newer}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("after a new success:\n got %+v\nwant %+v", st, want)
	}
}

func TestTier1Invalid(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if err := s.SaveTier1(ctx, Tier1State{Success: true, Result: &session.Tier1Result{}}); err == nil {
		t.Error("saved a run without a time")
	}
	if err := s.SaveTier1(ctx, Tier1State{RunAt: t0, Success: true}); err == nil {
		t.Error("saved a success without a result")
	}
}
