package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxMemoriesPerService is how many memories SaveMemories keeps per service:
// beyond, the lowest scored (then oldest) are deleted.
const MaxMemoriesPerService = 100

// Memory is one thing a remediation session learned about a service (package
// memory owns its meaning), with the incident and session it came from and
// the score the incident's verified outcome gave it. The service compares
// case-insensitively.
type Memory struct {
	ID          int64   `json:"id"`
	Service     string  `json:"service"`
	Observation string  `json:"observation"`
	Confidence  float64 `json:"confidence"`
	Score       float64 `json:"score"`
	// Verdict is why it has its score (memory.Verdict).
	Verdict    string `json:"verdict"`
	IncidentID string `json:"incident_id"`
	// Outcome is the incident's outcome when it closed.
	Outcome   string `json:"incident_outcome"`
	SessionID string `json:"session_id"`
	// Seq is the memory's place in its session's list; (SessionID, Seq) is
	// unique, so saving a session's memories again replaces them.
	Seq  int `json:"-"`
	Tier int `json:"tier"`
	// Created is when the session recorded it; Scored when its incident closed.
	Created time.Time `json:"created"`
	Scored  time.Time `json:"scored,omitzero"`
}

// MemoryQuery selects memories.
type MemoryQuery struct {
	// Service: only this service's (case-insensitive); empty: all.
	Service string
	// NonNegative leaves out the memories scored below 0.
	NonNegative bool
	// Limit bounds the answer; 0 or less: all.
	Limit int
}

const memoryColumns = `id, service, observation, confidence, score, verdict, incident_id, outcome, session_id, seq, tier, created_ns, scored_ns`

// SaveMemories inserts memories, replacing those of the same session and
// seq (saving twice is harmless), then keeps MaxMemoriesPerService per
// service. All in one transaction.
func (s *Store) SaveMemories(ctx context.Context, ms []Memory) error {
	if len(ms) == 0 {
		return nil
	}
	for _, m := range ms {
		switch {
		case strings.TrimSpace(m.Service) == "":
			return errors.New("store: memory without a service")
		case m.SessionID == "":
			return errors.New("store: memory without a session")
		case m.Created.IsZero():
			return errors.New("store: memory without a time")
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		services := map[string]bool{}
		for _, m := range ms {
			_, err := tx.ExecContext(ctx, `
INSERT INTO memories (service, observation, confidence, score, verdict, incident_id, outcome, session_id, seq, tier, created_ns, scored_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (session_id, seq) DO UPDATE SET
	service = excluded.service, observation = excluded.observation, confidence = excluded.confidence,
	score = excluded.score, verdict = excluded.verdict, incident_id = excluded.incident_id,
	outcome = excluded.outcome, tier = excluded.tier, created_ns = excluded.created_ns, scored_ns = excluded.scored_ns`,
				m.Service, m.Observation, m.Confidence, m.Score, m.Verdict, m.IncidentID, m.Outcome,
				m.SessionID, m.Seq, m.Tier, toNS(m.Created), toNS(m.Scored))
			if err != nil {
				return err
			}
			services[strings.ToLower(m.Service)] = true
		}
		for svc := range services {
			if _, err := tx.ExecContext(ctx, `
DELETE FROM memories WHERE service = ? AND id NOT IN (
	SELECT id FROM memories WHERE service = ? ORDER BY score DESC, created_ns DESC, id DESC LIMIT ?)`,
				svc, svc, MaxMemoriesPerService); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save memories: %w", err)
	}
	return nil
}

// ListMemories returns memories best first: by score, then newest.
func (s *Store) ListMemories(ctx context.Context, q MemoryQuery) ([]Memory, error) {
	var (
		where []string
		args  []any
	)
	if q.Service != "" {
		where, args = append(where, "service = ?"), append(args, q.Service)
	}
	if q.NonNegative {
		where = append(where, "score >= 0")
	}
	query := `SELECT ` + memoryColumns + ` FROM memories`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	query += ` ORDER BY score DESC, created_ns DESC, id DESC LIMIT ?`
	rows, err := s.db.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: list memories: %w", err)
	}
	defer rows.Close()
	out := []Memory{}
	for rows.Next() {
		var (
			m               Memory
			created, scored int64
		)
		if err := rows.Scan(&m.ID, &m.Service, &m.Observation, &m.Confidence, &m.Score, &m.Verdict, &m.IncidentID,
			&m.Outcome, &m.SessionID, &m.Seq, &m.Tier, &created, &scored); err != nil {
			return nil, fmt.Errorf("store: list memories: %w", err)
		}
		m.Created, m.Scored = fromNS(created), fromNS(scored)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list memories: %w", err)
	}
	return out, nil
}

// DeleteMemory deletes a memory; an error wrapping ErrNotFound when there is
// none with that id.
func (s *Store) DeleteMemory(ctx context.Context, id int64) error {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM memories WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete memory %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("memory %d: %w", id, ErrNotFound)
	}
	return nil
}

// CountMemories returns how many memories each service has (the service as
// first stored, services compared case-insensitively).
func (s *Store) CountMemories(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT min(service), count(*) FROM memories GROUP BY service`)
	if err != nil {
		return nil, fmt.Errorf("store: count memories: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			svc string
			n   int
		)
		if err := rows.Scan(&svc, &n); err != nil {
			return nil, fmt.Errorf("store: count memories: %w", err)
		}
		out[svc] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count memories: %w", err)
	}
	return out, nil
}
