package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/claude-ops/claude-ops/remediator"
)

// Where the needs-human alert goes is checked this long after start, at
// most: Alertmanager may start after the daemon (compose).
const (
	amCheckFor   = 5 * time.Minute
	amCheckRetry = 10 * time.Second
)

// newAlertmanager is the client of --alertmanager.url, with the HTTP client
// of --alertmanager.http-config-file; nil without --alertmanager.url. It
// starts, in the background, the check of where the needs-human alert goes
// (remediator.WarnUnroutedNeedsHuman), which stop ends.
func newAlertmanager(o *Options, logger *slog.Logger) (am remediator.Alertmanager, stop func(), err error) {
	if o.amURL == "" {
		if o.amHTTPConfig != "" {
			logger.Warn("--alertmanager.http-config-file without --alertmanager.url: unused")
		}
		return nil, func() {}, nil
	}
	c, err := remediator.NewAlertmanagerClientFromFile(o.amURL, o.amHTTPConfig)
	if err != nil {
		if o.amHTTPConfig != "" {
			return nil, nil, fmt.Errorf("--alertmanager.http-config-file: %w", err)
		}
		return nil, nil, fmt.Errorf("--alertmanager.url: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), amCheckFor)
	done := make(chan struct{})
	go func() {
		defer close(done)
		remediator.WarnUnroutedNeedsHuman(ctx, c, amCheckRetry, logger.With("component", "alertmanager"))
	}()
	return c, func() { cancel(); <-done }, nil
}

// webListeners are the listeners of --web.listen-address, or those systemd
// passed (--web.systemd-socket).
func webListeners(o *Options) ([]net.Listener, error) {
	if o.web.WebSystemdSocket != nil && *o.web.WebSystemdSocket {
		ls, err := activation.Listeners()
		if err != nil {
			return nil, fmt.Errorf("--web.systemd-socket: %w", err)
		}
		if len(ls) == 0 {
			return nil, errors.New("--web.systemd-socket: systemd passed no socket (LISTEN_FDS)")
		}
		return ls, nil
	}
	var listeners []net.Listener
	for _, addr := range o.listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}
