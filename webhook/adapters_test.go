package webhook

import (
	"context"
)

// DeduperFunc adapts a function to a Deduper.
type DeduperFunc func(ctx context.Context, key Key) (first bool, err error)

// Seen calls f.
func (f DeduperFunc) Seen(ctx context.Context, key Key) (bool, error) { return f(ctx, key) }

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, alerts []Alert) error

// Enqueue calls f.
func (f SinkFunc) Enqueue(ctx context.Context, alerts []Alert) error { return f(ctx, alerts) }
