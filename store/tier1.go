package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// Tier1State is the latest Tier 1 run and the latest good result.
//
// SaveTier1 reads SessionID, RunAt, Success and Result: the run being
// recorded. LoadTier1 fills every field: LastRun (= RunAt) and Success
// describe the latest run; LastSuccess, Result and SessionID the latest
// successful run, whose result is kept when later runs fail.
type Tier1State struct {
	// SessionID is the session of the run saved; on load, the session that
	// produced Result.
	SessionID string
	// RunAt is when the run saved happened; on load, the same as LastRun.
	RunAt time.Time
	// Success says whether the run produced a valid result; on load, whether
	// the latest run did.
	Success bool
	// Result is the run's result (required when Success); on load, the latest
	// successful result, nil if there never was one.
	Result *session.Tier1Result

	// LastRun is the time of the latest run, zero if none (load only).
	LastRun time.Time
	// LastSuccess is the time of the latest successful run, zero if none
	// (load only).
	LastSuccess time.Time
}

// SaveTier1 records a Tier 1 run. A failed run moves the last-run time but
// keeps the last good result. Runs older than the ones recorded do not move
// the times backwards.
func (s *Store) SaveTier1(ctx context.Context, st Tier1State) error {
	if st.RunAt.IsZero() {
		return errors.New("store: tier 1 run without a time")
	}
	var doc []byte
	if st.Success {
		if st.Result == nil {
			return errors.New("store: successful tier 1 run without a result")
		}
		var err error
		if doc, err = json.Marshal(st.Result); err != nil {
			return fmt.Errorf("store: encode tier 1 result: %w", err)
		}
	}
	at := toNS(st.RunAt)
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO tier1_state (id) VALUES (1)`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
UPDATE tier1_state SET last_run_ns = ?1, last_run_session = ?2, last_run_success = ?3
WHERE id = 1 AND last_run_ns <= ?1`, at, st.SessionID, st.Success); err != nil {
			return err
		}
		if !st.Success {
			return nil
		}
		_, err := tx.ExecContext(ctx, `
UPDATE tier1_state SET last_success_ns = ?1, last_success_session = ?2, result = ?3
WHERE id = 1 AND last_success_ns <= ?1`, at, st.SessionID, doc)
		return err
	})
}

// LoadTier1 returns the recorded Tier 1 state; the zero value when Tier 1 never ran.
func (s *Store) LoadTier1(ctx context.Context) (Tier1State, error) {
	var (
		st            Tier1State
		lastRun, succ int64
		doc           []byte
	)
	err := s.db.QueryRowContext(ctx, `
SELECT last_run_ns, last_run_success, last_success_ns, last_success_session, result
FROM tier1_state WHERE id = 1`).Scan(&lastRun, &st.Success, &succ, &st.SessionID, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return Tier1State{}, nil
	}
	if err != nil {
		return Tier1State{}, fmt.Errorf("store: load tier 1 state: %w", err)
	}
	st.LastRun, st.RunAt, st.LastSuccess = fromNS(lastRun), fromNS(lastRun), fromNS(succ)
	if len(doc) > 0 {
		st.Result = new(session.Tier1Result)
		if err := json.Unmarshal(doc, st.Result); err != nil {
			return Tier1State{}, fmt.Errorf("store: decode tier 1 result: %w", err)
		}
	}
	return st, nil
}
