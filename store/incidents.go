package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"
)

// Incident is a generic incident record. The store interprets only the
// times; State and Data belong to the remediator.
type Incident struct {
	ID      string
	Service string
	State   string
	Opened  time.Time
	Updated time.Time
	// Closed is zero while the incident is open.
	Closed time.Time
	// Data is the owner's JSON document; nil is stored as NULL.
	Data json.RawMessage
}

const incidentColumns = `id, service, state, opened_ns, updated_ns, closed_ns, data`

// SaveIncident inserts the incident or replaces the one with the same ID.
func (s *Store) SaveIncident(ctx context.Context, in Incident) error {
	return s.SaveIncidents(ctx, slices.Values([]Incident{in}), 0)
}

// SaveIncidents inserts or replaces the incidents and raises the inbox's
// applied sequence number to applied (0: unchanged; see InboxApplied), all
// in one transaction: a batch counts as applied exactly when what it
// produced is on disk, and on an error (an incident without an id, data
// that is not JSON) nothing is written. The incidents are taken one at a
// time: a caller that encodes each as it is asked for holds one encoding at
// a time, not all of them. ins may be nil.
func (s *Store) SaveIncidents(ctx context.Context, ins iter.Seq[Incident], applied uint64) error {
	if ins == nil {
		ins = func(func(Incident) bool) {}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var save *sql.Stmt
		for in := range ins {
			if in.ID == "" {
				return errors.New("an incident without an id")
			}
			var data any
			if len(in.Data) > 0 {
				if !json.Valid(in.Data) {
					return fmt.Errorf("incident %s: data is not valid JSON", in.ID)
				}
				data = string(in.Data)
			}
			if save == nil {
				var err error
				if save, err = tx.PrepareContext(ctx, `
INSERT INTO incidents (`+incidentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	service = excluded.service, state = excluded.state, opened_ns = excluded.opened_ns,
	updated_ns = excluded.updated_ns, closed_ns = excluded.closed_ns, data = excluded.data`); err != nil {
					return err
				}
				defer save.Close()
			}
			if _, err := save.ExecContext(ctx, in.ID, in.Service, in.State, toNS(in.Opened), toNS(in.Updated), toNS(in.Closed), data); err != nil {
				return fmt.Errorf("incident %s: %w", in.ID, err)
			}
		}
		return setInboxApplied(ctx, tx, applied)
	})
	if err != nil {
		return fmt.Errorf("store: save incidents: %w", err)
	}
	return nil
}

// GetIncident returns the incident with that ID, or an error wrapping ErrNotFound.
func (s *Store) GetIncident(ctx context.Context, id string) (Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id)
	if err != nil {
		return Incident{}, fmt.Errorf("store: get incident %q: %w", id, err)
	}
	ins, err := scanIncidents(rows)
	if err != nil {
		return Incident{}, fmt.Errorf("store: get incident %q: %w", id, err)
	}
	if len(ins) == 0 {
		return Incident{}, fmt.Errorf("incident %q: %w", id, ErrNotFound)
	}
	return ins[0], nil
}

// OpenIncidents returns the incidents not closed, oldest first.
func (s *Store) OpenIncidents(ctx context.Context) ([]Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+incidentColumns+`
FROM incidents WHERE closed_ns = 0 ORDER BY opened_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	return scanIncidents(rows)
}

// ListIncidents returns incidents newest first (by opening time); limit 0 or
// less means all.
func (s *Store) ListIncidents(ctx context.Context, limit int) ([]Incident, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+incidentColumns+`
FROM incidents ORDER BY opened_ns DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	return scanIncidents(rows)
}

func scanIncidents(rows *sql.Rows) ([]Incident, error) {
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		var (
			in                      Incident
			opened, updated, closed int64
			data                    sql.NullString
		)
		if err := rows.Scan(&in.ID, &in.Service, &in.State, &opened, &updated, &closed, &data); err != nil {
			return nil, err
		}
		in.Opened, in.Updated, in.Closed = fromNS(opened), fromNS(updated), fromNS(closed)
		if data.Valid {
			in.Data = json.RawMessage(data.String)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}
