package fakeapi

import (
	"os"
	"path/filepath"
	"testing"
)

// CLIVersion is the pinned Claude Code CLI version the integration tests use.
const CLIVersion = "2.1.330"

// InstallCommand installs the pinned CLI where CLIPath looks for it.
const InstallCommand = "npm install --prefix ~/.cache/claude-ops/claude-code-" + CLIVersion +
	" @anthropic-ai/claude-code@" + CLIVersion

// CLIPath returns the pinned CLI: $CLAUDEOPS_TEST_CLAUDE if set, else the
// install under $HOME/.cache. When it is missing the test is skipped, except
// in CI (env CI non-empty), where integration tests must never be skipped.
func CLIPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("CLAUDEOPS_TEST_CLAUDE")
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".cache", "claude-ops", "claude-code-"+CLIVersion,
			"node_modules", ".bin", "claude")
	}
	fi, err := os.Stat(path)
	if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
		err = &os.PathError{Op: "exec", Path: path, Err: os.ErrPermission}
	}
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("claude CLI %s not usable at %s: %v; install it with: %s", CLIVersion, path, err, InstallCommand)
	}
	t.Skipf("claude CLI %s not found at %s (%v); install it with: %s", CLIVersion, path, err, InstallCommand)
	return ""
}
