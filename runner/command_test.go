package runner

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCommands(t *testing.T) {
	c := Commands{}
	for _, tc := range []struct {
		name     string
		argv     []string
		timeout  time.Duration
		wantErr  string
		wantExit int
		wantOut  string
	}{
		{name: "ok", argv: []string{"/bin/echo", "hello"}, timeout: 5 * time.Second, wantOut: "hello\n"},
		{name: "exit code is a result", argv: []string{"/bin/sh", "-c", "echo oops >&2; exit 3"}, timeout: 5 * time.Second, wantExit: 3, wantOut: "oops\n"},
		{name: "never a shell", argv: []string{"/bin/echo", "a;", "rm", "-rf", "x"}, timeout: 5 * time.Second, wantOut: "a; rm -rf x\n"},
		{name: "timeout kills the group", argv: []string{"/bin/sh", "-c", "sleep 30 & sleep 30"}, timeout: 200 * time.Millisecond, wantErr: "timed out", wantExit: -1},
		{name: "missing program", argv: []string{"/nonexistent/prog"}, timeout: time.Second, wantErr: "no such file", wantExit: -1},
		{name: "empty", argv: nil, timeout: time.Second, wantErr: "empty command"},
		{name: "no timeout", argv: []string{"/bin/true"}, wantErr: "without a timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Run(context.Background(), tc.argv, tc.timeout)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.wantExit != 0 && res.ExitCode != tc.wantExit {
				t.Errorf("exit = %d, want %d", res.ExitCode, tc.wantExit)
			}
			if tc.wantOut != "" && res.Output != tc.wantOut {
				t.Errorf("output = %q, want %q", res.Output, tc.wantOut)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	b.Write([]byte(strings.Repeat("a", maxCommandOutput)))
	b.Write([]byte("end"))
	if s := b.String(); len(s) != maxCommandOutput || !strings.HasSuffix(s, "aend") {
		t.Errorf("len %d, suffix %q", len(s), s[len(s)-4:])
	}
}
