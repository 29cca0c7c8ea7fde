package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// ListOptions filters ListSessions. The zero value lists every session.
type ListOptions struct {
	// Limit caps the number of records; 0 or less means no cap.
	Limit int
	// Tier keeps only sessions of that tier; 0 means all tiers.
	Tier session.Tier
	// IncidentID keeps only sessions of that incident; "" means all.
	IncidentID string
}

const upsertSession = `
INSERT INTO sessions (id, tier, trigger, outcome, incident_id, start_ns, end_ns, cost_usd, record)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	tier = excluded.tier, trigger = excluded.trigger, outcome = excluded.outcome,
	incident_id = excluded.incident_id, start_ns = excluded.start_ns,
	end_ns = excluded.end_ns, cost_usd = excluded.cost_usd, record = excluded.record`

// SaveSession inserts the record or replaces the one with the same ID.
func (s *Store) SaveSession(ctx context.Context, r session.Record) error {
	if r.ID == "" {
		return errors.New("store: session without an id")
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encode session %s: %w", r.ID, err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertSession, r.ID, int(r.Tier), string(r.Trigger),
			string(r.Outcome), r.IncidentID, toNS(r.Start), toNS(r.End), r.CostUSD, doc)
		return err
	})
}

// SessionStart is when a session of an incident started, and its service.
type SessionStart struct {
	Service string
	Start   time.Time
}

// IncidentSessionsSince returns the sessions of incidents started at or
// after since, oldest first: the blast radius a restart takes back. The
// service is the session record's own (saved before the session starts),
// else its incident's (records older than the field); sessions with
// neither are left out.
func (s *Store) IncidentSessionsSince(ctx context.Context, since time.Time) ([]SessionStart, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT COALESCE(NULLIF(json_extract(CAST(s.record AS TEXT), '$.service'), ''), i.service, ''), s.start_ns
FROM sessions s LEFT JOIN incidents i ON i.id = s.incident_id
WHERE s.incident_id <> '' AND s.start_ns >= ?
ORDER BY s.start_ns, s.id`, toNS(since))
	if err != nil {
		return nil, fmt.Errorf("store: incident sessions: %w", err)
	}
	defer rows.Close()
	var out []SessionStart
	for rows.Next() {
		var (
			svc   string
			start int64
		)
		if err := rows.Scan(&svc, &start); err != nil {
			return nil, fmt.Errorf("store: incident sessions: %w", err)
		}
		if svc != "" {
			out = append(out, SessionStart{Service: svc, Start: fromNS(start)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: incident sessions: %w", err)
	}
	return out, nil
}

// GetSession returns the session with that ID, or an error wrapping ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (session.Record, error) {
	var doc []byte
	err := s.db.QueryRowContext(ctx, `SELECT record FROM sessions WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Record{}, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return session.Record{}, fmt.Errorf("store: get session %q: %w", id, err)
	}
	return decodeSession(doc)
}

// ListSessions returns sessions newest first (by start time, then ID).
func (s *Store) ListSessions(ctx context.Context, o ListOptions) ([]session.Record, error) {
	var (
		where []string
		args  []any
	)
	if o.Tier != 0 {
		where = append(where, "tier = ?")
		args = append(args, int(o.Tier))
	}
	if o.IncidentID != "" {
		where = append(where, "incident_id = ?")
		args = append(args, o.IncidentID)
	}
	q := "SELECT record FROM sessions"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY start_ns DESC, id DESC"
	if o.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, o.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return scanSessions(rows)
}

// MarkRunningInterrupted ends, at start-up, every session a previous run of
// the daemon left "running": its outcome becomes "interrupted" and its end
// time now. It returns the records as updated.
func (s *Store) MarkRunningInterrupted(ctx context.Context, now time.Time) ([]session.Record, error) {
	var out []session.Record
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx,
			`SELECT record FROM sessions WHERE outcome = 'running' ORDER BY start_ns, id`)
		if err != nil {
			return err
		}
		recs, err := scanSessions(rows)
		if err != nil {
			return err
		}
		for _, r := range recs {
			r.Outcome = session.OutcomeInterrupted
			r.End = now
			if !r.Start.IsZero() && now.After(r.Start) {
				r.Duration = now.Sub(r.Start)
			}
			if r.Reason == "" {
				r.Reason = "the daemon stopped while the session ran"
			}
			doc, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx,
				`UPDATE sessions SET outcome = ?, end_ns = ?, record = ? WHERE id = ?`,
				string(r.Outcome), toNS(r.End), doc, r.ID); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: mark running sessions interrupted: %w", err)
	}
	return out, nil
}

// SpentSince returns the total cost in USD of the sessions that started at or
// after since (the budget window).
func (s *Store) SpentSince(ctx context.Context, since time.Time) (float64, error) {
	var sum float64
	err := s.db.QueryRowContext(ctx,
		`SELECT COALESCE(SUM(cost_usd), 0) FROM sessions WHERE start_ns >= ?`, toNS(since)).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("store: spent since: %w", err)
	}
	return sum, nil
}

func scanSessions(rows *sql.Rows) ([]session.Record, error) {
	defer rows.Close()
	var out []session.Record
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		r, err := decodeSession(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func decodeSession(doc []byte) (session.Record, error) {
	var r session.Record
	if err := json.Unmarshal(doc, &r); err != nil {
		return session.Record{}, fmt.Errorf("store: decode session: %w", err)
	}
	return r, nil
}
