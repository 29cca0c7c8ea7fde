package actions

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-ops/claude-ops/store"
)

// TestCooldownViewSeconds: GET /api/v1/cooldowns gives its window in seconds.
func TestCooldownViewSeconds(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, _, err := st.TryAction(ctx, store.ActionRecord{Service: "web", Action: "restart"}, 4*time.Hour, 2); err != nil {
		t.Fatal(err)
	}
	v, err := CooldownView(ctx, st, Limits{MaxRestarts: 2, RestartWindow: 4 * time.Hour, MaxRedeploys: 1, RedeployWindow: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if want := `{"cooldowns":{"web":{"restart":{"used":1,"limit":2,"window_seconds":14400}}}}`; string(b) != want {
		t.Errorf("cooldowns = %s, want %s", b, want)
	}
}
