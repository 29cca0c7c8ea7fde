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
	// ResultRefusedUntyped: the action gate refused a change attempted
	// outside the typed actions (a mutating Bash command, a file edit, a
	// tool that may change state).
	ResultRefusedUntyped = "refused_untyped"
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
	// Stage is the typed-action chain stage that decided; Target the
	// service as the session named it; Outcome what execution and
	// verification made of an allowed action (done, failed, unverified).
	Stage   string
	Target  string
	Outcome string
}

const actionColumns = `id, time_ns, session_id, incident_id, service, action, result, command, reason, tier, stage, target, outcome`

// TryAction is the cooldown gate. In one BEGIN IMMEDIATE transaction it counts
// the allowed actions for (rec.Service, rec.Action) later than
// rec.Time-window; when that count (used) is below limit it records rec as
// "allowed" and returns true, otherwise it records rec as "refused_cooldown"
// and returns false. rec.Result is ignored; a zero rec.Time means now. The
// decision is durable once TryAction returns without error.
func (s *Store) TryAction(ctx context.Context, rec ActionRecord, window time.Duration, limit int) (allowed bool, used int, err error) {
	_, allowed, used, err = s.ChargeAction(ctx, rec, window, limit)
	return allowed, used, err
}

// ChargeAction is TryAction that also returns the id of the row it wrote, for
// SetActionOutcome once the action has run.
func (s *Store) ChargeAction(ctx context.Context, rec ActionRecord, window time.Duration, limit int) (id int64, allowed bool, used int, err error) {
	if rec.Service == "" || rec.Action == "" {
		return 0, false, 0, errors.New("store: action without a service or an action")
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
		id, err = insertAction(ctx, tx, rec)
		return err
	})
	if err != nil {
		return 0, false, 0, fmt.Errorf("store: try action: %w", err)
	}
	return id, allowed, used, nil
}

// SetActionOutcome records what became of an allowed action: its outcome,
// the stage that decided it and why.
func (s *Store) SetActionOutcome(ctx context.Context, id int64, outcome, stage, reason string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE actions SET outcome = ?, stage = ?, reason = ? WHERE id = ?`, outcome, stage, reason, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("no action %d", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set action outcome: %w", err)
	}
	return nil
}

// ServicesChangedSince lists the services with an allowed action after
// since, for the blast-radius limit.
func (s *Store) ServicesChangedSince(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT DISTINCT service FROM actions WHERE result = 'allowed' AND time_ns > ? ORDER BY service`, toNS(since))
	if err != nil {
		return nil, fmt.Errorf("store: services changed: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var svc string
		if err := rows.Scan(&svc); err != nil {
			return nil, fmt.Errorf("store: services changed: %w", err)
		}
		out = append(out, svc)
	}
	return out, rows.Err()
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
	if err := s.write(ctx, func(tx *sql.Tx) error { _, err := insertAction(ctx, tx, rec); return err }); err != nil {
		return fmt.Errorf("store: record action: %w", err)
	}
	return nil
}

func insertAction(ctx context.Context, tx *sql.Tx, r ActionRecord) (int64, error) {
	res, err := tx.ExecContext(ctx, `
INSERT INTO actions (time_ns, session_id, incident_id, service, action, result, command, reason, tier, stage, target, outcome)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		toNS(r.Time), r.SessionID, r.IncidentID, r.Service, r.Action, r.Result, r.Command, r.Reason, r.Tier,
		r.Stage, r.Target, r.Outcome)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
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
			&r.Result, &r.Command, &r.Reason, &r.Tier, &r.Stage, &r.Target, &r.Outcome); err != nil {
			return nil, err
		}
		r.Time = fromNS(ns)
		out = append(out, r)
	}
	return out, rows.Err()
}
