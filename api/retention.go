package api

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Pruner deletes sessions that started before a time and returns their IDs
// (*store.Store).
type Pruner interface {
	PruneSessions(ctx context.Context, before time.Time) ([]string, error)
}

// Retention keeps session rows and transcripts for Period
// (--retention.period): every Every, the sessions that started longer ago
// than Period go, with their transcripts, and so does any transcript last
// written longer ago than that (one whose row is already gone). A running
// session is kept whatever its age. Period 0 keeps everything.
type Retention struct {
	Store      Pruner
	ResultsDir string
	Period     time.Duration
	// Every is how often it prunes (default an hour); the first time is at
	// start.
	Every  time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Run prunes at start and then every Every until ctx ends.
func (r *Retention) Run(ctx context.Context) error {
	if r.Period <= 0 {
		<-ctx.Done()
		return nil
	}
	every := r.Every
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if sessions, files, err := r.Prune(ctx); err != nil {
			r.Logger.Error("retention: prune", "err", err)
		} else if sessions+files > 0 {
			r.Logger.Info("retention: pruned", "sessions", sessions, "transcripts", files, "older_than", r.Period)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Prune deletes what is older than Period now; it returns how many session
// rows and transcript files went.
func (r *Retention) Prune(ctx context.Context) (sessions, files int, err error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	cutoff := now().Add(-r.Period)
	ids, err := r.Store.PruneSessions(ctx, cutoff)
	if err != nil {
		return 0, 0, err
	}
	if r.ResultsDir == "" {
		return len(ids), 0, nil
	}
	var errs []error
	for _, id := range ids {
		if !validID.MatchString(id) {
			continue
		}
		switch err := os.Remove(filepath.Join(r.ResultsDir, id+".jsonl")); {
		case err == nil:
			files++
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	// Transcripts without a row (or whose row went another way).
	entries, err := os.ReadDir(r.ResultsDir)
	if err != nil {
		return len(ids), files, errors.Join(append(errs, err)...)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok || !e.Type().IsRegular() || !validID.MatchString(id) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		switch err := os.Remove(filepath.Join(r.ResultsDir, e.Name())); {
		case err == nil:
			files++
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return len(ids), files, errors.Join(errs...)
}
