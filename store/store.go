// Package store is the daemon's crash-safe embedded database: sessions, the
// latest Tier 1 state, incidents (with how much of the webhook's inbox they
// applied) and the remediation cooldown ledger, kept in one SQLite file
// (modernc.org/sqlite, no cgo).
//
// The file runs in WAL mode with synchronous=FULL, so a write whose method
// returned nil survives a kill -9 of the daemon and a power loss. Every write
// is one transaction begun with BEGIN IMMEDIATE; inside one process writers
// are also queued in Go, so they never spin on SQLITE_BUSY, while busy_timeout
// covers other processes (a sqlite3 shell, a second daemon by mistake).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned (wrapped) when a record does not exist. It wraps
// sql.ErrNoRows, so errors.Is works with either.
var ErrNotFound = fmt.Errorf("store: not found: %w", sql.ErrNoRows)

// maxOpenConns bounds the pool: one writer at a time (SQLite allows no more)
// plus concurrent WAL readers (API handlers, the metrics loop).
const maxOpenConns = 4

// busyTimeout is how long a connection waits for a lock held by another
// process before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// wsem queues this process's write transactions; a channel rather than a
	// mutex so that waiting honours the caller's context.
	wsem chan struct{}
}

// Open opens (creating if needed) the database at path and brings its schema
// up to date. The directory must exist.
func Open(path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: invalid database path %q", path)
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate") // every BeginTx is BEGIN IMMEDIATE
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxLifetime(0)
	s := &Store{db: db, wsem: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), busyTimeout+5*time.Second)
	defer cancel()
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database. Pending writes have already been committed.
func (s *Store) Close() error { return s.db.Close() }

// write runs fn in one BEGIN IMMEDIATE transaction and commits it, as this
// process's only writer (writers stay queued in Go). The write is durable
// once write returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wsem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// toNS stores a time as Unix nanoseconds; the zero time is 0.
func toNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNS is the inverse of toNS; times come back in UTC.
func fromNS(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
