package remediator

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// amDouble answers the three calls the client makes, only with the
// expected credentials.
func amDouble(t *testing.T, authorized func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/alerts":
			io.Copy(io.Discard, r.Body)
		case r.Method == http.MethodGet && r.URL.Path == "/api/v2/alerts":
			io.WriteString(w, `[{"fingerprint":"aaa","labels":{"alertname":"A"},"annotations":{},"receivers":[],"startsAt":"2026-03-01T12:00:00Z","endsAt":"2026-03-01T13:00:00Z","updatedAt":"2026-03-01T12:00:00Z","status":{"state":"active","silencedBy":[],"inhibitedBy":[]}}]`)
		case r.Method == http.MethodGet && r.URL.Path == "/api/v2/status":
			io.WriteString(w, `{"cluster":{"status":"disabled","peers":[]},"config":{"original":"route:\n  receiver: x\n"},"uptime":"2026-03-01T12:00:00Z","versionInfo":{"version":"0.34.2"}}`)
		default:
			http.NotFound(w, r)
		}
	})
}

func exercise(t *testing.T, c *AlertmanagerClient) {
	t.Helper()
	ctx := context.Background()
	if err := c.Push(ctx, []PostableAlert{{Labels: map[string]string{"alertname": "A"}}}); err != nil {
		t.Errorf("push: %v", err)
	}
	if active, err := c.Active(ctx, []string{"aaa"}); err != nil || !active["aaa"] {
		t.Errorf("active: %v, %v", active, err)
	}
	if cfg, err := c.Config(ctx); err != nil || cfg != "route:\n  receiver: x\n" {
		t.Errorf("config: %q, %v", cfg, err)
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "am-http.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAlertmanagerHTTPConfigFile: --alertmanager.http-config-file is
// prometheus/common's HTTPClientConfig: basic auth, a bearer token from a
// file (relative to the config file), a CA for TLS.
func TestAlertmanagerHTTPConfigFile(t *testing.T) {
	t.Run("basic auth", func(t *testing.T) {
		srv := httptest.NewServer(amDouble(t, func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "claude" && p == "s3cret"
		}))
		defer srv.Close()
		c, err := NewAlertmanagerClientFromFile(srv.URL, writeConfig(t, "basic_auth: {username: claude, password: s3cret}\n"))
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, c)
		// Without the file: 401, said.
		c, _ = NewAlertmanagerClientFromFile(srv.URL, "")
		if err := c.Push(context.Background(), []PostableAlert{{Labels: map[string]string{"a": "b"}}}); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("push without credentials: %v", err)
		}
		// Credentials in the URL work as they did.
		c, _ = NewAlertmanagerClient(strings.Replace(srv.URL, "http://", "http://claude:s3cret@", 1), nil)
		exercise(t, c)
	})
	t.Run("bearer token file and TLS", func(t *testing.T) {
		srv := httptest.NewTLSServer(amDouble(t, func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer tok-123"
		}))
		defer srv.Close()
		dir := t.TempDir()
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "token"), []byte("tok-123\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "am-http.yml")
		if err := os.WriteFile(file, []byte("authorization: {credentials_file: token}\ntls_config: {ca_file: ca.pem}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := NewAlertmanagerClientFromFile(srv.URL, file)
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, c)
		// The default client does not trust the test CA.
		c, _ = NewAlertmanagerClientFromFile(srv.URL, "")
		if _, err := c.Active(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("untrusted TLS: %v", err)
		}
	})
	t.Run("bad files", func(t *testing.T) {
		for _, content := range []string{"basic_auth: [\n", "no_such_key: 1\n", "basic_auth: {username: a, password: b}\nauthorization: {credentials: c}\n"} {
			if _, err := NewAlertmanagerClientFromFile("http://am:9093", writeConfig(t, content)); err == nil || !strings.Contains(err.Error(), "am-http.yml") {
				t.Errorf("%q: err %v, want one naming the file", content, err)
			}
		}
		if _, err := NewAlertmanagerClientFromFile("http://am:9093", filepath.Join(t.TempDir(), "missing.yml")); err == nil {
			t.Error("a missing file: no error")
		}
	})
}

// An answer the API does not define (a proxy's 502) keeps its status and
// body in the error.
func TestAlertmanagerClientUnexpectedStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream alertmanager is down", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, _ := NewAlertmanagerClient(srv.URL, nil)
	for name, err := range map[string]error{
		"push":   c.Push(context.Background(), []PostableAlert{{Labels: map[string]string{"a": "b"}}}),
		"active": func() error { _, err := c.Active(context.Background(), nil); return err }(),
		"config": func() error { _, err := c.Config(context.Background()); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "upstream alertmanager is down") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
