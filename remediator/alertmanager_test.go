package remediator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAlertmanagerClient(t *testing.T) {
	var posted []PostableAlert
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/am/api/v2/alerts" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodPost:
			if r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "content type", http.StatusBadRequest)
				return
			}
			if err := json.NewDecoder(r.Body).Decode(&posted); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		case http.MethodGet:
			query = r.URL.RawQuery
			io.WriteString(w, `[{"fingerprint":"aaa","status":{"state":"active"},"labels":{"alertname":"A"}},
				{"fingerprint":"ccc","status":{"state":"active"},"labels":{"alertname":"C"}}]`)
		}
	}))
	defer srv.Close()
	c, err := NewAlertmanagerClient(srv.URL+"/am/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := PostableAlert{
		Labels:      map[string]string{"alertname": AlertNeedsHuman, "claudeops": "true", "service": "db"},
		Annotations: map[string]string{"summary": "s"}, StartsAt: now, EndsAt: now.Add(AlertTTL),
	}
	if err := c.Push(ctx, []PostableAlert{in}); err != nil {
		t.Fatal(err)
	}
	if len(posted) != 1 || posted[0].Labels["service"] != "db" || !posted[0].EndsAt.Equal(in.EndsAt) || !posted[0].StartsAt.Equal(now) {
		t.Errorf("posted = %+v", posted)
	}
	active, err := c.Active(ctx, []string{"aaa", "bbb"})
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || !active["aaa"] {
		t.Errorf("active = %v", active)
	}
	for _, want := range []string{"active=true", "silenced=false", "inhibited=false"} {
		if !strings.Contains(query, want) {
			t.Errorf("query %q lacks %s", query, want)
		}
	}
}

func TestAlertmanagerClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	c, err := NewAlertmanagerClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Push(context.Background(), []PostableAlert{{Labels: map[string]string{"a": "b"}}}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("push err = %v", err)
	}
	if _, err := c.Active(context.Background(), []string{"x"}); err == nil {
		t.Error("active: no error")
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	c, _ = NewAlertmanagerClient(slow.URL, &http.Client{Timeout: 50 * time.Millisecond})
	if _, err := c.Active(context.Background(), nil); err == nil {
		t.Error("no timeout")
	}
	for _, bad := range []string{"", "am:9093", "ftp://am", "http://"} {
		if _, err := NewAlertmanagerClient(bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTruncate(t *testing.T) {
	s := strings.Repeat("é", 100) // 2 bytes each
	got := truncate(s, 51)
	if len(got) > 51 || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("truncate = %q (%d bytes)", got, len(got))
	}
	if truncate("short", 10) != "short" {
		t.Error("short string changed")
	}
}
