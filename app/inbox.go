package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/claude-ops/claude-ops/inbox"
	"github.com/claude-ops/claude-ops/store"
)

// openInbox opens the webhook's inbox log in dir, numbering after what the
// store saved as applied, and hands it what an older daemon left in the
// store's inbox table: appended to the log, then deleted from the table (a
// crash in between appends them twice, and a batch applied twice changes
// nothing more than once). With fsync, every write is fsynced before the
// webhook answers (--webhook.inbox-fsync).
func openInbox(ctx context.Context, st *store.Store, dir string, fsync bool, logger *slog.Logger) (*inbox.Log, error) {
	applied, err := st.InboxApplied(ctx)
	if err != nil {
		return nil, err
	}
	lg, err := inbox.Open(dir, inbox.Options{After: applied, Logger: logger, Sync: fsync})
	if err != nil {
		return nil, err
	}
	legacy, err := st.LegacyInbox(ctx)
	if err != nil || len(legacy) == 0 {
		return lg, closeOnError(lg, err)
	}
	ids := make([]int64, 0, len(legacy))
	for _, e := range legacy {
		if _, err := lg.Append(ctx, e.Data, nil); err != nil {
			return nil, closeOnError(lg, fmt.Errorf("inbox: hand over the store's batch %d: %w", e.ID, err))
		}
		ids = append(ids, e.ID)
	}
	if err := st.DeleteLegacyInbox(ctx, ids); err != nil {
		return nil, closeOnError(lg, err)
	}
	logger.Info("inbox: batches of the store's inbox table moved to the inbox log", "batches", len(ids))
	return lg, nil
}

func closeOnError(lg *inbox.Log, err error) error {
	if err != nil {
		_ = lg.Close()
	}
	return err
}
