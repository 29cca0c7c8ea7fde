package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/claude-ops/claude-ops/probes"
	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
)

// Tier1Store keeps the latest Tier 1 result.
type Tier1Store interface {
	SaveTier1(ctx context.Context, s store.Tier1State) error
	LoadTier1(ctx context.Context) (store.Tier1State, error)
}

// Tier1Collector shows the latest Tier 1 result as metrics.
type Tier1Collector interface {
	Update(s store.Tier1State)
}

// PlanKeeper makes and keeps the probe plan (probes.Keeper).
type PlanKeeper interface {
	Current() *probes.Plan
	Adopt(ctx context.Context, sessionID string, madeAt time.Time, hash string, res *session.Tier1Result) (*probes.Plan, error)
}

// Tier1Job builds Tier 1 sessions from the repos and turns their results into
// state and metrics; in the plan mode (Plans set), into the probe plan too.
type Tier1Job struct {
	Inventory func() *repos.Inventory // re-reads the repos
	Store     Tier1Store
	Collector Tier1Collector
	Logger    *slog.Logger

	// Plans, when set, is the plan mode: each run's result becomes the
	// probe plan, versioned with the repos' hash taken when the run was
	// prepared.
	Plans PlanKeeper
	// Hash returns the repos' content hash (plan mode).
	Hash func() (string, error)
	// ProbeInterval is said in the plan request (plan mode).
	ProbeInterval time.Duration

	mu   sync.Mutex
	hash string // of the run being prepared (one at a time)
}

// Prepare builds the session: the compact inventory goes into the prompt so
// the model does not spend turns finding the repos' files. In the plan mode
// the request for a plan, and why, follow.
func (j *Tier1Job) Prepare(ctx context.Context) (sessions.Spec, error) {
	var hash string
	if j.Plans != nil {
		// Before the repos are read: a change from now on is seen as one.
		h, err := j.Hash()
		if err != nil {
			j.Logger.Error("hash the repos", "err", err)
			h = "unknown"
		}
		hash = h
	}
	inv := j.Inventory()
	system, user := prompts.Tier1(inv.Prompt())
	if j.Plans != nil {
		j.mu.Lock()
		j.hash = hash
		j.mu.Unlock()
		user += "\n" + PlanRequest(Reason(ctx), j.ProbeInterval, probes.Brief(j.Plans.Current()))
	}
	return sessions.Spec{System: system, Prompt: user, MCPConfig: inv.MCPConfig()}, nil
}

// PlanRequest is what the plan mode adds to Tier 1's user message: that
// this run makes the probe plan, why, and the refusals of the current plan.
func PlanRequest(reason string, interval time.Duration, brief string) string {
	if interval <= 0 {
		interval = probes.DefaultInterval
	}
	var b strings.Builder
	b.WriteString("This run makes the probe plan")
	if reason != "" {
		fmt.Fprintf(&b, " (why now: %s)", reason)
	}
	fmt.Fprintf(&b, ". The daemon runs your probes itself every %s, so give each service `probes` "+
		"(types http, tcp, dns, container, declared_check, prometheus) rather than measuring it yourself; "+
		"targets must be hosts `list_services` shows; leave `checks` empty. "+
		"List every check you cannot turn into a probe under `unplanned` with why.\n", interval)
	if brief != "" {
		b.WriteString(brief)
	}
	return b.String()
}

// Record keeps the run: its time always, its result when it is valid; in
// the plan mode the result becomes the plan.
func (j *Tier1Job) Record(ctx context.Context, rec session.Record) {
	state := store.Tier1State{SessionID: rec.ID, RunAt: rec.End}
	var res *session.Tier1Result
	if rec.Outcome == session.OutcomeHealthy || rec.Outcome == session.OutcomeIssuesFound {
		r, err := session.ParseTier1(rec.StructuredOutput)
		if err != nil {
			j.Logger.Error("tier 1 result", "id", rec.ID, "err", err)
		} else {
			res = r
			state.Success, state.Result = true, res
		}
	}
	if err := j.Store.SaveTier1(ctx, state); err != nil {
		j.Logger.Error("save tier 1 result", "id", rec.ID, "err", err)
	}
	if latest, err := j.Store.LoadTier1(ctx); err != nil {
		j.Logger.Error("load tier 1 result", "err", err)
	} else {
		j.Collector.Update(latest)
	}
	if j.Plans != nil && res != nil {
		j.mu.Lock()
		hash := j.hash
		j.mu.Unlock()
		madeAt := rec.End
		if madeAt.IsZero() {
			madeAt = time.Now()
		}
		if _, err := j.Plans.Adopt(ctx, rec.ID, madeAt, hash, res); err != nil {
			j.Logger.Error("probe plan", "id", rec.ID, "err", err)
		}
	}
}
