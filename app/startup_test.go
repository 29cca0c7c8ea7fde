package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/apiproxy"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/session"
)

// TestFinalAuth: a 401 of the model API reaches the CLI with
// x-should-retry: false (without it the CLI retries for minutes); other
// answers pass unchanged.
func TestFinalAuth(t *testing.T) {
	status := http.StatusUnauthorized
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	p, err := apiproxy.New(apiproxy.Config{Upstream: u, APIKey: "sk-rejected", Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	tok, unregister := p.Register(apiproxy.Session{ID: "s", Tier: session.Tier1})
	defer unregister()
	post := func(key string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(`{"model":"haiku"}`))
		req.Header.Set("X-Api-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := post(tok); r.StatusCode != 401 || r.Header.Get("X-Should-Retry") != "false" {
		t.Errorf("upstream 401: %d, x-should-retry %q", r.StatusCode, r.Header.Get("X-Should-Retry"))
	}
	if r := post("not-a-session"); r.StatusCode != 401 || r.Header.Get("X-Should-Retry") != "false" {
		t.Errorf("the proxy's own 401: %d, x-should-retry %q", r.StatusCode, r.Header.Get("X-Should-Retry"))
	}
	status = http.StatusServiceUnavailable
	if r := post(tok); r.StatusCode != 503 || r.Header.Get("X-Should-Retry") != "" {
		t.Errorf("upstream 503: %d, x-should-retry %q (a 5xx is retried)", r.StatusCode, r.Header.Get("X-Should-Retry"))
	}
}

type stubRunner struct {
	rec   session.Record
	calls int
}

func (s *stubRunner) Run(_ context.Context, req session.Request) session.Record {
	s.calls++
	rec := s.rec
	rec.ID, rec.Tier = req.ID, req.Tier
	return rec
}

// TestSessionRunnerNoKey: without a key no CLI starts; the session ends at
// once as error (no_api_key) and says why.
func TestSessionRunnerNoKey(t *testing.T) {
	var logs strings.Builder
	stub := &stubRunner{}
	r := &sessionRunner{runner: stub, noKey: true, logger: slog.New(slog.NewTextHandler(&logs, nil))}
	rec := r.Run(context.Background(), session.Request{ID: "s1", Tier: session.Tier2, Trigger: session.TriggerAlert, IncidentID: "i1", Model: "sonnet"})
	if stub.calls != 0 {
		t.Error("the runner was called without a key")
	}
	if rec.Outcome != session.OutcomeError || rec.ErrorSubtype != "no_api_key" || rec.ID != "s1" || rec.IncidentID != "i1" ||
		rec.Trigger != session.TriggerAlert || rec.End.IsZero() ||
		rec.Reason != "no API key: set ANTHROPIC_API_KEY or --claude.api-key-file" {
		t.Errorf("record %+v", rec)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "no API key") {
		t.Errorf("log: %s", logs.String())
	}
}

// TestSessionRunnerAuthFailed: a rejected key is an error line.
func TestSessionRunnerAuthFailed(t *testing.T) {
	var logs strings.Builder
	stub := &stubRunner{rec: session.Record{Outcome: session.OutcomeAuthFailed, Reason: runner.AuthFailedReason + ": Invalid API key"}}
	r := &sessionRunner{runner: stub, logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if rec := r.Run(context.Background(), session.Request{ID: "s2", Tier: session.Tier1}); rec.Outcome != session.OutcomeAuthFailed || stub.calls != 1 {
		t.Errorf("record %+v, %d calls", rec, stub.calls)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), `msg="the model API rejected the key`) {
		t.Errorf("log: %s", logs.String())
	}
	logs.Reset()
	stub.rec = session.Record{Outcome: session.OutcomeHealthy}
	r.Run(context.Background(), session.Request{ID: "s3", Tier: session.Tier1})
	if logs.Len() != 0 {
		t.Errorf("a healthy session logged: %s", logs.String())
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	if err := checkWritable(dir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkWritable(file); err == nil {
		t.Error("a file taken for a writable dir")
	}
}
