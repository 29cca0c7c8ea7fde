package store

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// InboxEntry is one batch of the inbox, as it was appended.
type InboxEntry struct {
	ID       int64
	Received time.Time
	Data     []byte
}

// Inbox is a durable queue of batches (the alerts a webhook request
// delivered): Append returns once the batch is committed, so what was
// acknowledged survives a crash of the daemon; Delete removes batches once
// applied.
//
// Its writes go through a connection of their own with synchronous=NORMAL:
// in WAL mode a commit then survives kill -9 without waiting for an fsync,
// and only a power loss may drop the last batches, which Alertmanager sends
// again. The cooldown ledger and everything else keep synchronous=FULL.
// Appends that arrive while one is being written wait and are written
// together in the next transaction (group commit).
type Inbox struct {
	st  *Store
	now func() time.Time

	connMu sync.Mutex
	conn   *sql.Conn   // lazily pinned, synchronous=NORMAL
	stmts  *inboxStmts // prepared once on conn

	mu       sync.Mutex
	pending  []*inboxAppend
	flushing bool

	commits, appends atomic.Int64 // transactions written and batches in them
}

type inboxAppend struct {
	data []byte
	id   int64
	err  error
	done chan struct{}
}

// NewInbox returns the store's inbox.
func NewInbox(st *Store) *Inbox { return &Inbox{st: st, now: time.Now} }

// Append writes a batch durably and returns its id. The first caller to
// find no write in progress writes every batch pending, including those
// that arrive meanwhile; the others wait for it.
func (ib *Inbox) Append(ctx context.Context, data []byte) (int64, error) {
	a := &inboxAppend{data: data, done: make(chan struct{})}
	ib.mu.Lock()
	ib.pending = append(ib.pending, a)
	if ib.flushing {
		ib.mu.Unlock()
		select {
		case <-a.done:
			return a.id, a.err
		case <-ctx.Done():
			// The batch may still be written; the caller answers an error
			// and Alertmanager retries, which dedup or an incident absorbs.
			return 0, ctx.Err()
		}
	}
	ib.flushing = true
	for {
		// Let the requests that are about to append join this commit:
		// under load, a commit otherwise carries one batch or two.
		ib.mu.Unlock()
		runtime.Gosched()
		ib.mu.Lock()
		batch := ib.pending
		ib.pending = nil
		ib.mu.Unlock()
		// Not the caller's context: the batch holds other callers' data.
		ib.write(context.WithoutCancel(ctx), batch)
		ib.mu.Lock()
		if len(ib.pending) == 0 {
			ib.flushing = false
			ib.mu.Unlock()
			return a.id, a.err
		}
	}
}

// inboxStmts are the statements of an append, prepared once on the inbox's
// connection: a storm commits thousands of groups a second, and preparing
// BEGIN, INSERT and COMMIT anew for each (as database/sql's Tx does) cost
// about as much as writing the rows.
type inboxStmts struct {
	begin, insert, commit, rollback *sql.Stmt
}

func (st *inboxStmts) close() {
	for _, s := range []*sql.Stmt{st.begin, st.insert, st.commit, st.rollback} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// writeConn returns the inbox's own connection and its statements.
func (ib *Inbox) writeConn(ctx context.Context) (*inboxStmts, error) {
	ib.connMu.Lock()
	defer ib.connMu.Unlock()
	if ib.stmts != nil {
		return ib.stmts, nil
	}
	c, err := ib.st.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		_ = c.Close()
		return nil, err
	}
	st := &inboxStmts{}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&st.begin, "BEGIN IMMEDIATE"},
		{&st.insert, "INSERT INTO inbox (received_ns, data) VALUES (?, ?)"},
		{&st.commit, "COMMIT"},
		{&st.rollback, "ROLLBACK"},
	} {
		if *p.stmt, err = c.PrepareContext(ctx, p.sql); err != nil {
			st.close()
			_ = c.Close()
			return nil, err
		}
	}
	ib.conn, ib.stmts = c, st
	return st, nil
}

// Stats returns how many transactions the appends were written in, and how
// many batches they held.
func (ib *Inbox) Stats() (commits, batches int64) { return ib.commits.Load(), ib.appends.Load() }

// Close gives the inbox's connection back; call it before the store's Close.
func (ib *Inbox) Close() error {
	ib.connMu.Lock()
	defer ib.connMu.Unlock()
	if ib.conn == nil {
		return nil
	}
	ib.stmts.close()
	err := ib.conn.Close()
	ib.conn, ib.stmts = nil, nil
	return err
}

func (ib *Inbox) write(ctx context.Context, batch []*inboxAppend) {
	now := toNS(ib.now())
	ib.commits.Add(1)
	ib.appends.Add(int64(len(batch)))
	st, err := ib.writeConn(ctx)
	if err == nil {
		err = ib.st.locked(ctx, func() error { return st.append(ctx, now, batch) })
	}
	for _, a := range batch {
		if err != nil {
			a.id, a.err = 0, fmt.Errorf("store: append to inbox: %w", err)
		}
		close(a.done)
	}
}

// append inserts the batch in one transaction.
func (st *inboxStmts) append(ctx context.Context, now int64, batch []*inboxAppend) error {
	if _, err := st.begin.ExecContext(ctx); err != nil {
		return err
	}
	err := func() error {
		for _, a := range batch {
			res, err := st.insert.ExecContext(ctx, now, a.data)
			if err != nil {
				return err
			}
			if a.id, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		_, err := st.commit.ExecContext(ctx)
		return err
	}()
	if err != nil {
		// No harm if the failed statement already ended the transaction.
		_, _ = st.rollback.ExecContext(ctx)
	}
	return err
}

// Delete removes batches (one the remediator refused after all); applied
// ones go with the incidents they changed (Store.SaveIncidents).
func (ib *Inbox) Delete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := ib.st.write(ctx, func(tx *sql.Tx) error { return deleteBatches(ctx, tx, ids) }); err != nil {
		return fmt.Errorf("store: delete from inbox: %w", err)
	}
	return nil
}

// deleteBatches deletes the inbox batches ids in tx; ids not in the inbox
// are ignored.
func deleteBatches(ctx context.Context, tx *sql.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM inbox WHERE id = ?`)
	if err != nil {
		return err
	}
	defer del.Close()
	for _, id := range ids {
		if _, err := del.ExecContext(ctx, id); err != nil {
			return fmt.Errorf("inbox batch %d: %w", id, err)
		}
	}
	return nil
}

// Load returns the batches not yet deleted, oldest first.
func (ib *Inbox) Load(ctx context.Context) ([]InboxEntry, error) {
	rows, err := ib.st.db.QueryContext(ctx, `SELECT id, received_ns, data FROM inbox ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: load inbox: %w", err)
	}
	defer rows.Close()
	var out []InboxEntry
	for rows.Next() {
		var e InboxEntry
		var ns int64
		if err := rows.Scan(&e.ID, &ns, &e.Data); err != nil {
			return nil, fmt.Errorf("store: load inbox: %w", err)
		}
		e.Received = fromNS(ns)
		out = append(out, e)
	}
	return out, rows.Err()
}
