package app

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/claude-ops/claude-ops/collector"
)

// webMux is the daemon's own endpoints: metrics, health, readiness and
// reload; the API and the webhook are added to it.
func (a *App) webMux(reg *prometheus.Registry, tier1 *collector.Tier1Collector, sandbox *sandboxState, haveKey bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(a.o.telemetryPath, promhttp.HandlerFor(collector.Merge(reg, tier1), promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelError), MaxRequestsInFlight: 10,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Claude Ops is Healthy.") })
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		if !haveKey {
			http.Error(w, "Claude Ops is not ready: "+errNoAPIKey.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := sandbox.err(r.Context()); err != nil {
			http.Error(w, "Claude Ops is not ready: no session can run: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Claude Ops is Ready.")
	})
	// Reload re-reads the repos now, through their one reload path; a
	// broken repo file is reported, never a failed reload.
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		a.repos.Reload(r.Context())
		a.logger.Info("reloaded repos")
		fmt.Fprintln(w, "reloaded")
	})
	return mux
}
