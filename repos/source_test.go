package repos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSourceOneReloadPath: readers get the read the actor made; Fresh reads
// again only when the hash changed, Reload always; the error gauge follows.
func TestSourceOneReloadPath(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "shop")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, ManifestFile), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("first rules")
	hash, hashes := "v1", 0
	reg := prometheus.NewRegistry()
	s := NewSource(SourceConfig{Dir: dir, Registerer: reg, Hash: func() (string, error) { hashes++; return hash, nil }})
	// Before Run: the read NewSource made, at once (nothing blocks).
	write("early rules")
	if got := s.Fresh(context.Background()).RulesFor("shop"); !strings.Contains(got, "first rules") {
		t.Fatalf("before Run: %q", got)
	}
	write("first rules")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	for !s.running.Load() {
		time.Sleep(time.Millisecond)
	}

	if got := s.Inventory().RulesFor("shop"); !strings.Contains(got, "first rules") {
		t.Fatalf("first read: %q", got)
	}
	write("second rules") // the hash says nothing changed: not read
	if got := s.Fresh(ctx).RulesFor("shop"); !strings.Contains(got, "first rules") {
		t.Errorf("Fresh read again though the hash did not change: %q", got)
	}
	hash = "v2"
	if got := s.Fresh(ctx).RulesFor("shop"); !strings.Contains(got, "second rules") {
		t.Errorf("Fresh after a change: %q", got)
	}
	write("third rules")
	if got := s.Reload(ctx).RulesFor("shop"); !strings.Contains(got, "third rules") {
		t.Errorf("Reload: %q", got)
	}
	if got := s.Inventory().RulesFor("shop"); !strings.Contains(got, "third rules") {
		t.Errorf("Inventory after Reload: %q", got)
	}
	if hashes != 4 {
		t.Errorf("hash computed %d times, want once per read request (4)", hashes)
	}
	if n := testutil.CollectAndCount(reg, "claudeops_repo_errors"); n != 0 {
		t.Errorf("%d repo error series for good repos", n)
	}
	cancel()
	<-done
	// Stopped: readers get the latest read, without blocking.
	write("fourth rules")
	if got := s.Reload(context.Background()).RulesFor("shop"); !strings.Contains(got, "third rules") {
		t.Errorf("after Run stopped: %q", got)
	}
}
