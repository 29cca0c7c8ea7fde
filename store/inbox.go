package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The webhook's batches live in a log of their own (package inbox); the
// store keeps, with the incidents, the highest sequence number of that log
// whose batch is applied (SaveIncidents), so that a batch is applied once
// whatever the moment of a crash.
//
// The inbox table (schema 2) held the batches before the log did. A daemon
// upgraded with batches still in it hands them to the log once
// (LegacyInbox, then DeleteLegacyInbox).

// InboxEntry is one batch of the legacy inbox table.
type InboxEntry struct {
	ID   int64
	Data []byte
}

// InboxApplied returns the highest inbox sequence number saved by
// SaveIncidents; 0 if none.
func (s *Store) InboxApplied(ctx context.Context) (uint64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `SELECT seq FROM inbox_applied WHERE id = 1`).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: inbox applied: %w", err)
	}
	return uint64(seq), nil
}

// setInboxApplied raises the saved sequence number to seq in tx.
func setInboxApplied(ctx context.Context, tx *sql.Tx, seq uint64) error {
	if seq == 0 {
		return nil
	}
	if seq > 1<<63-1 {
		return fmt.Errorf("inbox sequence number %d out of range", seq)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO inbox_applied (id, seq) VALUES (1, ?)
ON CONFLICT (id) DO UPDATE SET seq = max(seq, excluded.seq)`, int64(seq))
	return err
}

// LegacyInbox returns the batches left in the legacy inbox table, oldest
// first.
func (s *Store) LegacyInbox(ctx context.Context) ([]InboxEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, data FROM inbox ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: load legacy inbox: %w", err)
	}
	defer rows.Close()
	var out []InboxEntry
	for rows.Next() {
		var e InboxEntry
		if err := rows.Scan(&e.ID, &e.Data); err != nil {
			return nil, fmt.Errorf("store: load legacy inbox: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteLegacyInbox deletes batches of the legacy inbox table; ids not in
// it are ignored.
func (s *Store) DeleteLegacyInbox(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		del, err := tx.PrepareContext(ctx, `DELETE FROM inbox WHERE id = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		for _, id := range ids {
			if _, err := del.ExecContext(ctx, id); err != nil {
				return fmt.Errorf("batch %d: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete from legacy inbox: %w", err)
	}
	return nil
}
