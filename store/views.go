package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

// Queries behind the API's filters and views (SPEC.md §6), and the
// retention of session rows.

// SessionQuery filters QuerySessions. The zero value lists every session.
type SessionQuery struct {
	// Limit caps the number of records; 0 or less means no cap.
	Limit int
	// Tier keeps only sessions of that tier; 0 means all tiers.
	Tier session.Tier
	// Service keeps the sessions about a service: those of its incidents and
	// those with an action charged to it. "" means all.
	Service string
	// Since and Until bound the start time (Since inclusive, Until
	// exclusive); the zero time leaves that side open.
	Since, Until time.Time
}

// QuerySessions returns the sessions q selects, newest first (by start
// time, then ID).
func (s *Store) QuerySessions(ctx context.Context, q SessionQuery) ([]session.Record, error) {
	var (
		where []string
		args  []any
	)
	if q.Tier != 0 {
		where = append(where, "tier = ?")
		args = append(args, int(q.Tier))
	}
	if q.Service != "" {
		where = append(where, `(incident_id IN (SELECT id FROM incidents WHERE service = ?)
	OR id IN (SELECT session_id FROM actions WHERE service = ? AND session_id <> ''))`)
		args = append(args, q.Service, q.Service)
	}
	if !q.Since.IsZero() {
		where = append(where, "start_ns >= ?")
		args = append(args, toNS(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "start_ns < ?")
		args = append(args, toNS(q.Until))
	}
	qs := "SELECT record FROM sessions"
	if len(where) > 0 {
		qs += " WHERE " + strings.Join(where, " AND ")
	}
	qs += " ORDER BY start_ns DESC, id DESC"
	if q.Limit > 0 {
		qs += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, qs, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query sessions: %w", err)
	}
	return scanSessions(rows)
}

// Incident states for IncidentQuery.State.
const (
	IncidentsOpen   = "open"
	IncidentsClosed = "closed"
	IncidentsAll    = "all"
)

// IncidentQuery filters QueryIncidents.
type IncidentQuery struct {
	// State is IncidentsOpen, IncidentsClosed, or IncidentsAll ("" = all).
	State string
	// Service keeps only that service's incidents; "" means all.
	Service string
	// ClosedSince keeps only the open incidents and those closed at or
	// after it; zero means no bound.
	ClosedSince time.Time
	// Limit caps the number of incidents; 0 or less means no cap.
	Limit int
}

// QueryIncidents returns the incidents q selects, newest first (by opening
// time, then ID).
func (s *Store) QueryIncidents(ctx context.Context, q IncidentQuery) ([]Incident, error) {
	var (
		where []string
		args  []any
	)
	switch q.State {
	case IncidentsOpen:
		where = append(where, "closed_ns = 0")
	case IncidentsClosed:
		where = append(where, "closed_ns <> 0")
	case IncidentsAll, "":
	default:
		return nil, fmt.Errorf("store: incident state %q: want open, closed or all", q.State)
	}
	if q.Service != "" {
		where = append(where, "service = ?")
		args = append(args, q.Service)
	}
	if !q.ClosedSince.IsZero() {
		where = append(where, "(closed_ns = 0 OR closed_ns >= ?)")
		args = append(args, toNS(q.ClosedSince))
	}
	qs := "SELECT " + incidentColumns + " FROM incidents"
	if len(where) > 0 {
		qs += " WHERE " + strings.Join(where, " AND ")
	}
	qs += " ORDER BY opened_ns DESC, id DESC"
	if q.Limit > 0 {
		qs += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, qs, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query incidents: %w", err)
	}
	return s.scanIncidents(ctx, rows)
}

// CooldownUse is a service's use of one cooldown class within its window.
type CooldownUse struct {
	Service string
	Action  string
	// Used counts the allowed actions within the window (what TryAction
	// compares with the limit).
	Used int
	// Oldest is the time of the oldest of them: one frees up when it leaves
	// the window, at Oldest plus the window.
	Oldest time.Time
}

// CooldownUses is CooldownState with the oldest action of each count, by
// service then action.
func (s *Store) CooldownUses(ctx context.Context, now time.Time, windows map[string]time.Duration) ([]CooldownUse, error) {
	var out []CooldownUse
	for action, window := range windows {
		rows, err := s.db.QueryContext(ctx, `
SELECT service, COUNT(*), MIN(time_ns) FROM actions
WHERE result = 'allowed' AND action = ? AND time_ns > ?
GROUP BY service`, action, toNS(now.Add(-window)))
		if err != nil {
			return nil, fmt.Errorf("store: cooldown uses: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				u := CooldownUse{Action: action}
				var oldest int64
				if err := rows.Scan(&u.Service, &u.Used, &oldest); err != nil {
					return err
				}
				u.Oldest = fromNS(oldest)
				out = append(out, u)
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("store: cooldown uses: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b CooldownUse) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Action, b.Action))
	})
	return out, nil
}

// PruneSessions deletes the sessions that started before before and have
// ended (a running one is kept whatever its age); it returns their IDs, for
// their transcripts to go too.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) ([]string, error) {
	var ids []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		ids = nil
		rows, err := tx.QueryContext(ctx,
			`SELECT id FROM sessions WHERE start_ns < ? AND outcome <> 'running' ORDER BY start_ns, id`, toNS(before))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE start_ns < ? AND outcome <> 'running'`, toNS(before))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: prune sessions: %w", err)
	}
	return ids, nil
}
