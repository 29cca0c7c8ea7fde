package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// PlanStore keeps plans (store.Store).
type PlanStore interface {
	SavePlan(ctx context.Context, p store.ProbePlan) (int64, error)
	LatestPlan(ctx context.Context) (store.ProbePlan, error)
}

// Keeper makes, keeps and serves the probe plan: it builds one from each
// Tier 1 result (Build), stores it with the repos hash it was made from,
// and hands it to the runner.
type Keeper struct {
	Store   PlanStore
	Runner  *Runner
	Catalog func(ctx context.Context) (*services.Catalog, error)
	Limits  Limits
	Logger  *slog.Logger
	// OnPlan, if set, is told of every plan the runner is given.
	OnPlan func(*Plan)
}

// Load gives the runner the latest stored plan, if any.
func (k *Keeper) Load(ctx context.Context) (*Plan, error) {
	sp, err := k.Store.LatestPlan(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := Decode(sp.Version, sp.Plan)
	if err != nil {
		return nil, err
	}
	p.MadeAt, p.SessionID, p.ReposHash = sp.MadeAt, sp.SessionID, sp.ReposHash
	k.set(p)
	return p, nil
}

// Current is the plan that runs, nil if none.
func (k *Keeper) Current() *Plan { return k.Runner.Plan() }

// Adopt builds the plan of a Tier 1 result made from repos of the given
// hash, stores it and runs it. Refused probes are logged with their reason.
// A plan that cannot be stored still runs (until a restart); the error says
// so.
func (k *Keeper) Adopt(ctx context.Context, sessionID string, madeAt time.Time, hash string, res *session.Tier1Result) (*Plan, error) {
	var cat *services.Catalog
	if k.Catalog != nil {
		var err error
		if cat, err = k.Catalog(ctx); err != nil {
			if cat == nil {
				return nil, fmt.Errorf("service catalog: %w", err)
			}
			k.logger().Warn("service catalog incomplete: the plan is validated against what is known", "err", err)
		}
	}
	p := Build(res, cat, k.Limits)
	p.MadeAt, p.SessionID, p.ReposHash = madeAt.UTC(), sessionID, hash
	logger := k.logger()
	for _, r := range p.Refusals() {
		logger.Warn("probe refused", "service", r.Service, "probe", r.Name, "type", r.Type, "reason", r.Refused, "session", sessionID)
	}
	var saveErr error
	doc, err := p.Encode()
	if err == nil {
		p.Version, err = k.Store.SavePlan(ctx, store.ProbePlan{MadeAt: p.MadeAt, SessionID: sessionID, ReposHash: hash, Plan: doc})
	}
	if err != nil {
		saveErr = fmt.Errorf("store the probe plan: %w", err)
	}
	k.set(p)
	logger.Info("probe plan adopted", "version", p.Version, "session", sessionID, "probes", len(p.Accepted()),
		"refused", len(p.Refusals()), "unplanned", len(p.Unplanned), "repos_hash", hash)
	return p, saveErr
}

func (k *Keeper) set(p *Plan) {
	k.Runner.SetPlan(p)
	if k.OnPlan != nil {
		k.OnPlan(p)
	}
}

func (k *Keeper) logger() *slog.Logger {
	if k.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Logger
}

// View is GET /api/v1/plan's answer: the plan that runs (accepted and
// refused probes with their reasons, the unplanned checks, its version and
// repos hash) and the latest result of each probe.
type View struct {
	Mode            string    `json:"mode"`
	Active          bool      `json:"active"`
	IntervalSeconds float64   `json:"probe_interval_seconds"`
	Plan            *Plan     `json:"plan"`
	Results         []Result  `json:"results"`
	Refused         int       `json:"refused"`
	Unplanned       int       `json:"unplanned"`
	Note            string    `json:"note,omitempty"`
	Now             time.Time `json:"now"`
}

// View describes the current plan and its latest results.
func (k *Keeper) View() View {
	p := k.Current()
	v := View{Mode: "plan", Active: p.Active(), IntervalSeconds: k.Runner.Interval().Seconds(), Plan: p,
		Results: k.Runner.Results(), Now: k.Runner.cfg.Now().UTC()}
	if v.Results == nil {
		v.Results = []Result{}
	}
	if p != nil {
		v.Refused, v.Unplanned = len(p.Refusals()), len(p.Unplanned)
	}
	switch {
	case p == nil:
		v.Note = "no plan yet: Tier 1 makes one at its next run"
	case !v.Active:
		v.Note = "the plan has no probe to run: Tier 1's reported checks are exported and Tier 1 runs every --schedule.interval"
	}
	return v
}

// Brief is a few lines on a plan for the next Tier 1 prompt: its refused
// probes with their reasons, so that the model can mend them.
func Brief(p *Plan) string {
	refused := p.Refusals()
	if len(refused) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The daemon refused %d probe(s) of the current plan (version %d):\n", len(refused), p.Version)
	for i, r := range refused {
		if i == maxUnforeseenInPrompt {
			fmt.Fprintf(&b, "- and %d more\n", len(refused)-i)
			break
		}
		fmt.Fprintf(&b, "- service %s, probe %s (%s): %s\n", r.Service, r.Check(), r.Type, r.Refused)
	}
	return b.String()
}
