package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Action kinds and decision results of the cooldown ledger (SPEC.md §7
// remediation_actions_total labels).
const (
	ActionRestart  = "restart"
	ActionRedeploy = "redeploy"
	ActionOther    = "other"

	ResultAllowed            = "allowed"
	ResultRefusedCooldown    = "refused_cooldown"
	ResultRefusedTier        = "refused_tier"
	ResultDryRun             = "dry_run"
	ResultRefusedBudget      = "refused_budget"
	ResultRefusedBlastRadius = "refused_blast_radius"
	ResultRefusedNever       = "refused_never"
)

// ActionRecord is one decision about a remediation action: the ledger the
// cooldown limits are enforced from, and an audit trail.
type ActionRecord struct {
	// ID is assigned by the store; it is ignored on insert.
	ID         int64
	Time       time.Time
	SessionID  string
	IncidentID string
	Service    string
	// Action is restart, redeploy or other.
	Action string
	// Result is one of the Result* constants.
	Result  string
	Command string
	Reason  string
	Tier    int
}

const actionColumns = `id, time_ns, session_id, incident_id, service, action, result, command, reason, tier`

// TryAction is the cooldown gate. In one BEGIN IMMEDIATE transaction it counts
// the allowed actions for (rec.Service, rec.Action) later than
// rec.Time-window; when that count (used) is below limit it records rec as
// "allowed" and returns true, otherwise it records rec as "refused_cooldown"
// and returns false. rec.Result is ignored; a zero rec.Time means now. The
// decision is durable once TryAction returns without error.
func (s *Store) TryAction(ctx context.Context, rec ActionRecord, window time.Duration, limit int) (allowed bool, used int, err error) {
	if rec.Service == "" || rec.Action == "" {
		return false, 0, errors.New("store: action without a service or an action")
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `
SELECT COUNT(*) FROM actions
WHERE service = ? AND action = ? AND result = 'allowed' AND time_ns > ?`,
			rec.Service, rec.Action, toNS(rec.Time.Add(-window))).Scan(&used); err != nil {
			return err
		}
		allowed = used < limit
		rec.Result = ResultRefusedCooldown
		if allowed {
			rec.Result = ResultAllowed
		}
		return insertAction(ctx, tx, rec)
	})
	if err != nil {
		return false, 0, fmt.Errorf("store: try action: %w", err)
	}
	return allowed, used, nil
}

// RecordAction appends a decision taken elsewhere (refused_tier, dry_run,
// refused_budget, ...) to the ledger. A zero rec.Time means now. Recording
// ResultAllowed here bypasses the cooldown check; use TryAction for that.
func (s *Store) RecordAction(ctx context.Context, rec ActionRecord) error {
	if rec.Service == "" || rec.Action == "" || rec.Result == "" {
		return errors.New("store: action without a service, an action or a result")
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return insertAction(ctx, tx, rec) }); err != nil {
		return fmt.Errorf("store: record action: %w", err)
	}
	return nil
}

func insertAction(ctx context.Context, tx *sql.Tx, r ActionRecord) error {
	_, err := tx.ExecContext(ctx, `
INSERT INTO actions (time_ns, session_id, incident_id, service, action, result, command, reason, tier)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		toNS(r.Time), r.SessionID, r.IncidentID, r.Service, r.Action, r.Result, r.Command, r.Reason, r.Tier)
	return err
}

// ActionsSince returns the ledger entries at or after since, oldest first.
func (s *Store) ActionsSince(ctx context.Context, since time.Time) ([]ActionRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+actionColumns+`
FROM actions WHERE time_ns >= ? ORDER BY time_ns, id`, toNS(since))
	if err != nil {
		return nil, fmt.Errorf("store: actions since: %w", err)
	}
	return scanActions(rows)
}

// CooldownState counts, for each action of windows, the allowed actions per
// service later than now minus that action's window: result[service][action],
// the same count TryAction compares with its limit. Services without any such
// action are absent.
func (s *Store) CooldownState(ctx context.Context, now time.Time, windows map[string]time.Duration) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	for action, window := range windows {
		rows, err := s.db.QueryContext(ctx, `
SELECT service, COUNT(*) FROM actions
WHERE result = 'allowed' AND action = ? AND time_ns > ?
GROUP BY service`, action, toNS(now.Add(-window)))
		if err != nil {
			return nil, fmt.Errorf("store: cooldown state: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var (
					service string
					n       int
				)
				if err := rows.Scan(&service, &n); err != nil {
					return err
				}
				if out[service] == nil {
					out[service] = map[string]int{}
				}
				out[service][action] = n
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("store: cooldown state: %w", err)
		}
	}
	return out, nil
}

func scanActions(rows *sql.Rows) ([]ActionRecord, error) {
	defer rows.Close()
	var out []ActionRecord
	for rows.Next() {
		var (
			r  ActionRecord
			ns int64
		)
		if err := rows.Scan(&r.ID, &ns, &r.SessionID, &r.IncidentID, &r.Service, &r.Action,
			&r.Result, &r.Command, &r.Reason, &r.Tier); err != nil {
			return nil, err
		}
		r.Time = fromNS(ns)
		out = append(out, r)
	}
	return out, rows.Err()
}
