package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/store"
)

func TestMemoriesAPI(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	created := time.Now().Add(-time.Hour).UTC()
	if err := st.SaveMemories(ctx, []store.Memory{
		{Service: "web", Observation: "restart fixes the pool", Confidence: 0.8, Score: 1.8, Verdict: "confirmed",
			IncidentID: "inc-1", Outcome: "remediated", SessionID: "s1", Tier: 2, Created: created},
		{Service: "web", Observation: "DNS", Confidence: 0.5, Score: -1.5, Verdict: "wrong_lead",
			IncidentID: "inc-2", Outcome: "needs_human", SessionID: "s2", Tier: 2, Created: created},
		{Service: "db", Observation: "disk", SessionID: "s3", Tier: 3, Created: created},
	}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	RegisterMemories(mux, st, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	type view struct {
		ID          int64   `json:"id"`
		Service     string  `json:"service"`
		Observation string  `json:"observation"`
		Score       float64 `json:"score"`
		Verdict     string  `json:"verdict"`
		Incident    string  `json:"incident_id"`
		Outcome     string  `json:"incident_outcome"`
		Session     string  `json:"session_id"`
		Age         int64   `json:"age_seconds"`
	}
	list := func(query string) []view {
		code, body := do("GET", "/api/v1/memories"+query)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", query, code, body)
		}
		var out struct{ Memories []view }
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out.Memories
	}

	if got := list(""); len(got) != 3 {
		t.Errorf("all memories: %+v", got)
	}
	web := list("?service=web")
	if len(web) != 2 || web[0].Observation != "restart fixes the pool" || web[0].Score != 1.8 || web[0].Verdict != "confirmed" ||
		web[0].Incident != "inc-1" || web[0].Outcome != "remediated" || web[0].Session != "s1" ||
		web[0].Age < 3500 || web[0].Age > 3700 || web[1].Observation != "DNS" {
		t.Errorf("web memories: %+v", web)
	}
	if got := list("?service=web&limit=1"); len(got) != 1 {
		t.Errorf("limit 1: %+v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?limit=1001"} {
		if code, _ := do("GET", "/api/v1/memories"+q); code != 400 {
			t.Errorf("GET %s: %d, want 400", q, code)
		}
	}

	if code, body := do("DELETE", fmt.Sprintf("/api/v1/memories/%d", web[1].ID)); code != 204 {
		t.Errorf("DELETE: %d %s", code, body)
	}
	if code, _ := do("DELETE", fmt.Sprintf("/api/v1/memories/%d", web[1].ID)); code != 404 {
		t.Errorf("DELETE again: %d, want 404", code)
	}
	for _, bad := range []string{"x", "0", "-1"} {
		if code, _ := do("DELETE", "/api/v1/memories/"+bad); code != 400 {
			t.Errorf("DELETE %s: %d, want 400", bad, code)
		}
	}
	if got := list("?service=web"); len(got) != 1 {
		t.Errorf("web after the delete: %+v", got)
	}
}
