package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// KeepPlans is how many probe plans SavePlan keeps; older ones are deleted.
const KeepPlans = 50

// ProbePlan is one stored probe plan (package probes owns its content).
type ProbePlan struct {
	// Version numbers the plans in the order they were saved, from 1.
	// SavePlan sets it.
	Version int64
	// MadeAt is when Tier 1 made the plan.
	MadeAt time.Time
	// SessionID is the Tier 1 session that made it.
	SessionID string
	// ReposHash is the content hash of the repos the plan was made from.
	ReposHash string
	// Plan is the plan itself, a JSON document.
	Plan json.RawMessage
}

// SavePlan stores a plan as the latest and returns its version. Only the
// latest KeepPlans plans are kept.
func (s *Store) SavePlan(ctx context.Context, p ProbePlan) (int64, error) {
	switch {
	case p.MadeAt.IsZero():
		return 0, errors.New("store: probe plan without a time")
	case p.ReposHash == "":
		return 0, errors.New("store: probe plan without a repos hash")
	case !json.Valid(p.Plan):
		return 0, errors.New("store: probe plan is not JSON")
	}
	var version int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO probe_plans (made_ns, session_id, repos_hash, plan) VALUES (?, ?, ?, ?)`,
			toNS(p.MadeAt), p.SessionID, p.ReposHash, string(p.Plan))
		if err != nil {
			return err
		}
		if version, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM probe_plans WHERE id <= ?`, version-KeepPlans)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: save probe plan: %w", err)
	}
	return version, nil
}

// LatestPlan returns the latest stored plan; ErrNotFound when there is none.
func (s *Store) LatestPlan(ctx context.Context) (ProbePlan, error) {
	var (
		p    ProbePlan
		made int64
		doc  string
	)
	err := s.db.QueryRowContext(ctx, `
SELECT id, made_ns, session_id, repos_hash, plan FROM probe_plans ORDER BY id DESC LIMIT 1`).
		Scan(&p.Version, &made, &p.SessionID, &p.ReposHash, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return ProbePlan{}, ErrNotFound
	}
	if err != nil {
		return ProbePlan{}, fmt.Errorf("store: load probe plan: %w", err)
	}
	p.MadeAt, p.Plan = fromNS(made), json.RawMessage(doc)
	return p, nil
}
