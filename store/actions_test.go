package store

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func act(at time.Duration, service, action, sessionID string) ActionRecord {
	return ActionRecord{Time: t0.Add(at), SessionID: sessionID, IncidentID: "inc-1", Service: service,
		Action: action, Command: "docker restart " + service, Reason: "unhealthy", Tier: 2}
}

func TestTryActionLimitAndWindow(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	steps := []struct {
		rec     ActionRecord
		allowed bool
		used    int
	}{
		{act(0, "web", ActionRestart, "s1"), true, 0},
		{act(time.Minute, "web", ActionRestart, "s1"), true, 1},
		{act(2*time.Minute, "web", ActionRestart, "s2"), false, 2}, // at the limit
		{act(3*time.Minute, "web", ActionRedeploy, "s2"), true, 0}, // another action
		{act(3*time.Minute, "db", ActionRestart, "s2"), true, 0},   // another service
		// The window slides: at t0+60m the t0 action is out (strictly older
		// than 1h ago is required, equal is out), the t0+1m one still in.
		{act(60*time.Minute, "web", ActionRestart, "s3"), true, 1},
		{act(60*time.Minute+time.Second, "web", ActionRestart, "s3"), false, 2},
		{act(121*time.Minute, "web", ActionRestart, "s3"), true, 0},
	}
	for i, st := range steps {
		allowed, used, err := s.TryAction(ctx, st.rec, time.Hour, 2)
		if err != nil {
			t.Fatal(err)
		}
		if allowed != st.allowed || used != st.used {
			t.Errorf("step %d: allowed=%v used=%d, want %v %d", i, allowed, used, st.allowed, st.used)
		}
	}
	all, err := s.ActionsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(steps) {
		t.Fatalf("ledger has %d rows, want %d", len(all), len(steps))
	}
	// ActionsSince orders by time; steps 3 and 4 share a time and keep insert order.
	for i, r := range all {
		want := steps[i].rec
		want.ID = r.ID
		want.Result = ResultRefusedCooldown
		if steps[i].allowed {
			want.Result = ResultAllowed
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, r, want)
		}
		if i > 0 && r.ID <= all[i-1].ID {
			t.Errorf("ids not increasing: %d after %d", r.ID, all[i-1].ID)
		}
	}
	if allowed, used, err := s.TryAction(ctx, act(200*time.Minute, "web", ActionRestart, "s4"), time.Hour, 0); err != nil || allowed || used != 0 {
		t.Errorf("limit 0: allowed=%v used=%d err=%v", allowed, used, err)
	}
	if _, _, err := s.TryAction(ctx, ActionRecord{Action: ActionRestart}, time.Hour, 1); err == nil {
		t.Error("TryAction without a service succeeded")
	}
}

func TestRecordActionAndQueries(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, r := range []ActionRecord{
		{Time: t0, SessionID: "s1", Service: "web", Action: ActionRestart, Result: ResultDryRun},
		{Time: t0, SessionID: "s1", Service: "web", Action: ActionRedeploy, Result: ResultRefusedTier},
		{Time: t0.Add(time.Minute), SessionID: "s2", Service: "db", Action: ActionOther, Result: ResultRefusedNever},
	} {
		if err := s.RecordAction(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAction(ctx, ActionRecord{Service: "web", Action: ActionRestart}); err == nil {
		t.Error("RecordAction without a result succeeded")
	}
	// Non-allowed decisions never count against the cooldown.
	if allowed, used, err := s.TryAction(ctx, act(2*time.Minute, "web", ActionRestart, "s2"), time.Hour, 1); !allowed || used != 0 || err != nil {
		t.Errorf("TryAction after refusals: %v %d %v", allowed, used, err)
	}
	all, err := s.ActionsSince(ctx, time.Time{})
	var s1 []ActionRecord
	for _, r := range all {
		if r.SessionID == "s1" {
			s1 = append(s1, r)
		}
	}
	if err != nil || len(s1) != 2 || s1[0].Result != ResultDryRun || s1[1].Result != ResultRefusedTier {
		t.Errorf("session s1's recorded decisions = %+v, %v", s1, err)
	}
	if got, _ := s.ActionsSince(ctx, t0.Add(time.Minute)); len(got) != 2 || got[0].SessionID != "s2" {
		t.Errorf("ActionsSince(t0+1m) = %+v", got)
	}
}

func TestCooldownState(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, r := range []ActionRecord{
		act(0, "web", ActionRestart, "s"),
		act(30*time.Minute, "web", ActionRestart, "s"),
		act(50*time.Minute, "web", ActionRedeploy, "s"),
		act(55*time.Minute, "db", ActionRestart, "s"),
		act(5*time.Minute, "dns", ActionRedeploy, "s"),
	} {
		if ok, _, err := s.TryAction(ctx, r, time.Hour, 10); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if err := s.RecordAction(ctx, ActionRecord{Time: t0.Add(56 * time.Minute), Service: "db", Action: ActionRestart, Result: ResultDryRun}); err != nil {
		t.Fatal(err)
	}
	got, err := s.CooldownState(ctx, t0.Add(time.Hour), map[string]time.Duration{
		ActionRestart:  time.Hour,        // web@0 falls out (not strictly later)
		ActionRedeploy: 15 * time.Minute, // dns@5m falls out
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{
		"web": {ActionRestart: 1, ActionRedeploy: 1},
		"db":  {ActionRestart: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CooldownState = %v, want %v", got, want)
	}
}

// TestTryActionConcurrent: 20 goroutines race for a limit of 2; exactly two win.
func TestTryActionConcurrent(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var (
		wins atomic.Int32
		wg   sync.WaitGroup
	)
	for i := range 20 {
		wg.Go(func() {
			rec := ActionRecord{Time: time.Now(), SessionID: fmt.Sprint("g", i), Service: "web", Action: ActionRestart}
			allowed, used, err := s.TryAction(ctx, rec, time.Hour, 2)
			if err != nil {
				t.Error(err)
				return
			}
			if allowed {
				wins.Add(1)
			} else if used != 2 {
				t.Errorf("refused with used=%d", used)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 2 {
		t.Errorf("%d allowed, want 2", wins.Load())
	}
	all, err := s.ActionsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range all {
		count[r.Result]++
	}
	if count[ResultAllowed] != 2 || count[ResultRefusedCooldown] != 18 {
		t.Errorf("ledger: %v", count)
	}
}

func BenchmarkTryAction(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	services := []string{"web", "db", "dns", "cache"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec := ActionRecord{Time: time.Now(), SessionID: "bench", Service: services[i%len(services)],
			Action: ActionRestart, Command: "docker restart x", Tier: 2}
		if _, _, err := s.TryAction(ctx, rec, time.Hour, 3); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestTryActionTwoHandles races two Store handles on one file, as two
// processes would: the limit holds through SQLite's own locking
// (BEGIN IMMEDIATE and busy_timeout), not only the in-process queue.
func TestTryActionTwoHandles(t *testing.T) {
	s1, path := openTemp(t)
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var (
		wins atomic.Int32
		wg   sync.WaitGroup
	)
	for i := range 20 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			rec := ActionRecord{Time: time.Now(), Service: "web", Action: ActionRestart}
			allowed, _, err := s.TryAction(context.Background(), rec, time.Hour, 2)
			if err != nil {
				t.Error(err)
			}
			if allowed {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 2 {
		t.Errorf("%d allowed, want 2", wins.Load())
	}
}

// TestChargeOutcomeAndBlastRadius: the charged row gets its outcome later,
// and the services changed within a window are the allowed rows' services.
func TestChargeOutcomeAndBlastRadius(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	rec := act(0, "web", ActionRestart, "s1")
	rec.Stage, rec.Target = "cooldown", "/web"
	id, ok, _, err := s.ChargeAction(ctx, rec, time.Hour, 1)
	if err != nil || !ok || id == 0 {
		t.Fatalf("ChargeAction = %d %v %v", id, ok, err)
	}
	if err := s.SetActionOutcome(ctx, id, "done", "verify", "StartedAt moved"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActionOutcome(ctx, id+100, "done", "verify", ""); err == nil {
		t.Error("SetActionOutcome of a missing row succeeded")
	}
	if _, ok, _, _ := s.ChargeAction(ctx, act(time.Minute, "web", ActionRestart, "s1"), time.Hour, 1); ok {
		t.Error("second charge within the window allowed")
	}
	if err := s.RecordAction(ctx, ActionRecord{Time: t0.Add(2 * time.Minute), Service: "db", Action: ActionRestart, Result: ResultRefusedTier}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _, _ := s.ChargeAction(ctx, act(3*time.Minute, "cache", ActionRedeploy, "s2"), time.Hour, 1); !ok {
		t.Fatal("cache redeploy refused")
	}
	all, err := s.ActionsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := all[0]; got.Outcome != "done" || got.Stage != "verify" || got.Target != "/web" || got.Reason != "StartedAt moved" {
		t.Errorf("first row = %+v", got)
	}
	for _, tc := range []struct {
		since time.Duration
		want  []string
	}{
		{-time.Minute, []string{"cache", "web"}}, // db was refused: not a change
		{time.Minute, []string{"cache"}},
		{5 * time.Minute, nil},
	} {
		got, err := s.ServicesChangedSince(ctx, t0.Add(tc.since))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ServicesChangedSince(t0%+v) = %v %v, want %v", tc.since, got, err, tc.want)
		}
	}
}
