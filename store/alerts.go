package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SeenAlert records an alert key (for example fingerprint|startsAt|status)
// and reports whether it was new. The check and the insert are one atomic
// statement, so of concurrent callers with the same key exactly one is first.
func (s *Store) SeenAlert(ctx context.Context, key string, at time.Time) (first bool, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO alerts_seen (key, seen_ns) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
			key, toNS(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: seen alert: %w", err)
	}
	return first, nil
}

// PruneAlerts forgets the alert keys first seen before before.
func (s *Store) PruneAlerts(ctx context.Context, before time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM alerts_seen WHERE seen_ns < ?`, toNS(before))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: prune alerts: %w", err)
	}
	return nil
}
