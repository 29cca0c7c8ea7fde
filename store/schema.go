package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] brings the schema from user_version i to i+1. Append only;
// never edit a migration that has shipped.
var migrations = []string{
	// 1: the initial schema. Times are INTEGER Unix nanoseconds, 0 = unset.
	`
CREATE TABLE sessions (
	id          TEXT PRIMARY KEY,
	tier        INTEGER NOT NULL,
	trigger     TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	incident_id TEXT NOT NULL DEFAULT '',
	start_ns    INTEGER NOT NULL,
	end_ns      INTEGER NOT NULL DEFAULT 0,
	cost_usd    REAL NOT NULL DEFAULT 0,
	record      TEXT NOT NULL
);
CREATE INDEX sessions_start ON sessions (start_ns);
CREATE INDEX sessions_tier_start ON sessions (tier, start_ns);
CREATE INDEX sessions_incident_start ON sessions (incident_id, start_ns) WHERE incident_id <> '';
CREATE INDEX sessions_running ON sessions (outcome) WHERE outcome = 'running';

CREATE TABLE tier1_state (
	id                  INTEGER PRIMARY KEY CHECK (id = 1),
	last_run_ns         INTEGER NOT NULL DEFAULT 0,
	last_run_session    TEXT NOT NULL DEFAULT '',
	last_run_success    INTEGER NOT NULL DEFAULT 0,
	last_success_ns     INTEGER NOT NULL DEFAULT 0,
	last_success_session TEXT NOT NULL DEFAULT '',
	result              TEXT
);

CREATE TABLE incidents (
	id         TEXT PRIMARY KEY,
	service    TEXT NOT NULL,
	state      TEXT NOT NULL,
	opened_ns  INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL,
	closed_ns  INTEGER NOT NULL DEFAULT 0,
	data       TEXT
);
CREATE INDEX incidents_open ON incidents (opened_ns) WHERE closed_ns = 0;
CREATE INDEX incidents_opened ON incidents (opened_ns);

CREATE TABLE actions (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ns     INTEGER NOT NULL,
	session_id  TEXT NOT NULL DEFAULT '',
	incident_id TEXT NOT NULL DEFAULT '',
	service     TEXT NOT NULL,
	action      TEXT NOT NULL,
	result      TEXT NOT NULL,
	command     TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	tier        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX actions_cooldown ON actions (service, action, time_ns) WHERE result = 'allowed';
CREATE INDEX actions_allowed_time ON actions (time_ns) WHERE result = 'allowed';
CREATE INDEX actions_time ON actions (time_ns);
CREATE INDEX actions_session ON actions (session_id);
`,
	// 2: the remediator's durable inbox: alert batches acknowledged to
	// Alertmanager and not yet applied to persisted incidents.
	`
CREATE TABLE inbox (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	received_ns INTEGER NOT NULL,
	data        BLOB NOT NULL
);
`,
	// 3: typed actions: the chain stage that decided, the target as the
	// model named it, and what execution and verification made of it.
	`
ALTER TABLE actions ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
`,
	// 4: the probe plans Tier 1 makes (issue 16), each with the content
	// hash of the repos it was made from; the latest is the one run.
	`
CREATE TABLE probe_plans (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	made_ns    INTEGER NOT NULL,
	session_id TEXT NOT NULL DEFAULT '',
	repos_hash TEXT NOT NULL,
	plan       TEXT NOT NULL
);
`,
	// 5: memories (issue 15): what remediation sessions learned about a
	// service, scored by their incident's verified outcome.
	`
CREATE TABLE memories (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	service     TEXT NOT NULL COLLATE NOCASE,
	observation TEXT NOT NULL,
	confidence  REAL NOT NULL DEFAULT 0,
	score       REAL NOT NULL DEFAULT 0,
	verdict     TEXT NOT NULL DEFAULT '',
	incident_id TEXT NOT NULL DEFAULT '',
	outcome     TEXT NOT NULL DEFAULT '',
	session_id  TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	tier        INTEGER NOT NULL DEFAULT 0,
	created_ns  INTEGER NOT NULL,
	scored_ns   INTEGER NOT NULL DEFAULT 0,
	UNIQUE (session_id, seq)
);
CREATE INDEX memories_rank ON memories (service, score DESC, created_ns DESC);
`,
	// 6: the webhook's batches moved to a log of their own (package inbox);
	// the highest sequence number of it applied is saved with the incidents.
	// The inbox table stays until what an older daemon left in it is handed
	// over (LegacyInbox).
	`
CREATE TABLE inbox_applied (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
);
`,
	// 7: what an incident's owner keeps beside its document in chunks that
	// are only ever appended (the remediator's alerts): a save appends what
	// changed, one row an incident, instead of rewriting every alert of
	// every incident a storm touched.
	`
CREATE TABLE incident_log (
	incident_id TEXT NOT NULL,
	data        BLOB NOT NULL
);
CREATE INDEX incident_log_incident ON incident_log (incident_id);
`,
}

// migrate applies the migrations the file has not seen, in one transaction,
// so concurrent openers and crashes mid-migration are harmless.
func (s *Store) migrate(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this binary's %d", v, len(migrations))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
			// PRAGMA takes no bound parameters; v is an int we control.
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		return nil
	})
}
