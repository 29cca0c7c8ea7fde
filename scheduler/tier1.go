package scheduler

import (
	"context"
	"log/slog"

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

// Tier1Job builds Tier 1 sessions from the repos and turns their results into
// state and metrics.
type Tier1Job struct {
	Inventory func() *repos.Inventory // re-reads the repos
	Store     Tier1Store
	Collector Tier1Collector
	Logger    *slog.Logger
}

// Prepare builds the session: the compact inventory goes into the prompt so
// the model does not spend turns finding the repos' files.
func (j *Tier1Job) Prepare(context.Context) (sessions.Spec, error) {
	inv := j.Inventory()
	system, user := prompts.Tier1(inv.Prompt())
	return sessions.Spec{System: system, Prompt: user, MCPConfig: inv.MCPConfig()}, nil
}

// Record keeps the run: its time always, its result when it is valid.
func (j *Tier1Job) Record(ctx context.Context, rec session.Record) {
	state := store.Tier1State{SessionID: rec.ID, RunAt: rec.End}
	if rec.Outcome == session.OutcomeHealthy || rec.Outcome == session.OutcomeIssuesFound {
		res, err := session.ParseTier1(rec.StructuredOutput)
		if err != nil {
			j.Logger.Error("tier 1 result", "id", rec.ID, "err", err)
		} else {
			state.Success, state.Result = true, res
		}
	}
	if err := j.Store.SaveTier1(ctx, state); err != nil {
		j.Logger.Error("save tier 1 result", "id", rec.ID, "err", err)
	}
	latest, err := j.Store.LoadTier1(ctx)
	if err != nil {
		j.Logger.Error("load tier 1 result", "err", err)
		return
	}
	j.Collector.Update(latest)
}
