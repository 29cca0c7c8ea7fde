package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
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
	// Log is what the owner keeps beside Data in chunks that are only ever
	// appended (the remediator's alerts), so that a save writes what
	// changed, not everything again; the store does not read them. Read, it
	// is every chunk, in the order saved.
	Log [][]byte
	// Saved, Append is a chunk to add to the log (nil: none); with
	// ResetLog the log is emptied first (the owner compacts it).
	Append   []byte
	ResetLog bool
}

const incidentColumns = `id, service, state, opened_ns, updated_ns, closed_ns, data`

// SaveIncident inserts the incident or replaces the one with the same ID.
func (s *Store) SaveIncident(ctx context.Context, in Incident) error {
	return s.SaveIncidents(ctx, slices.Values([]Incident{in}), 0)
}

// SaveIncidents inserts or replaces the incidents (appending to their logs,
// Incident.Append) and raises the inbox's applied sequence number to applied
// (0: unchanged; see InboxApplied), all in one transaction: a batch counts
// as applied exactly when what it produced is on disk, and on an error (an
// incident without an id, data that is not JSON) nothing is written. The
// incidents are taken one at a time: a caller that encodes each as it is
// asked for holds one encoding at a time, not all of them, and may reuse
// its buffers for the next (an incident is written before the next is
// asked for). ins may be nil.
func (s *Store) SaveIncidents(ctx context.Context, ins iter.Seq[Incident], applied uint64) error {
	if ins == nil {
		ins = func(func(Incident) bool) {}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var st incidentStmts
		defer st.close()
		for in := range ins {
			if err := st.save(ctx, tx, in); err != nil {
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

// incidentStmts are a save's statements, prepared when first used.
type incidentStmts struct{ upsert, reset, appendLog *sql.Stmt }

func (st *incidentStmts) close() {
	for _, s := range []*sql.Stmt{st.upsert, st.reset, st.appendLog} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// execPrepared runs query, prepared in *s the first time, with args.
func execPrepared(ctx context.Context, tx *sql.Tx, s **sql.Stmt, query string, args ...any) error {
	if *s == nil {
		var err error
		if *s, err = tx.PrepareContext(ctx, query); err != nil {
			return err
		}
	}
	_, err := (*s).ExecContext(ctx, args...)
	return err
}

func (st *incidentStmts) save(ctx context.Context, tx *sql.Tx, in Incident) error {
	if in.ID == "" {
		return errors.New("an incident without an id")
	}
	var data any
	if len(in.Data) > 0 {
		if !json.Valid(in.Data) {
			return errors.New("data is not valid JSON")
		}
		data = string(in.Data)
	}
	if err := execPrepared(ctx, tx, &st.upsert, `
INSERT INTO incidents (`+incidentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	service = excluded.service, state = excluded.state, opened_ns = excluded.opened_ns,
	updated_ns = excluded.updated_ns, closed_ns = excluded.closed_ns, data = excluded.data`,
		in.ID, in.Service, in.State, toNS(in.Opened), toNS(in.Updated), toNS(in.Closed), data); err != nil {
		return err
	}
	if in.ResetLog {
		if err := execPrepared(ctx, tx, &st.reset, `DELETE FROM incident_log WHERE incident_id = ?`, in.ID); err != nil {
			return err
		}
	}
	if in.Append != nil {
		return execPrepared(ctx, tx, &st.appendLog, `INSERT INTO incident_log (incident_id, data) VALUES (?, ?)`, in.ID, in.Append)
	}
	return nil
}

// GetIncident returns the incident with that ID, or an error wrapping ErrNotFound.
func (s *Store) GetIncident(ctx context.Context, id string) (Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id)
	if err != nil {
		return Incident{}, fmt.Errorf("store: get incident %q: %w", id, err)
	}
	ins, err := s.scanIncidents(ctx, rows)
	if err != nil {
		return Incident{}, fmt.Errorf("store: get incident %q: %w", id, err)
	}
	if len(ins) == 0 {
		return Incident{}, fmt.Errorf("incident %q: %w", id, ErrNotFound)
	}
	return ins[0], nil
}

// IncidentServices returns the service of each incident of ids the store
// holds, by ID, in one query: what a list of sessions shows of their
// incidents, without reading the incidents' alerts.
func (s *Store) IncidentServices(ctx context.Context, ids []string) (map[string]string, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[string]string, len(ids))
	// SQLite takes at most 32,766 parameters a statement.
	for chunk := range slices.Chunk(ids, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT id, service FROM incidents WHERE id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: incident services: %w", err)
		}
		for rows.Next() {
			var id, service string
			if err := rows.Scan(&id, &service); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: incident services: %w", err)
			}
			out[id] = service
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: incident services: %w", err)
		}
	}
	return out, nil
}

// OpenIncidents returns the incidents not closed, oldest first.
func (s *Store) OpenIncidents(ctx context.Context) ([]Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+incidentColumns+`
FROM incidents WHERE closed_ns = 0 ORDER BY opened_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	return s.scanIncidents(ctx, rows)
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
	return s.scanIncidents(ctx, rows)
}

// scanIncidents reads the incidents of rows, then their logs.
func (s *Store) scanIncidents(ctx context.Context, rows *sql.Rows) ([]Incident, error) {
	out, err := scanIncidentRows(rows)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Log, err = s.log(ctx, out[i].ID); err != nil {
			return nil, fmt.Errorf("incident %s: %w", out[i].ID, err)
		}
	}
	return out, nil
}

func scanIncidentRows(rows *sql.Rows) ([]Incident, error) {
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

// log returns an incident's log, in the order saved.
func (s *Store) log(ctx context.Context, id string) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT data FROM incident_log WHERE incident_id = ? ORDER BY rowid`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
