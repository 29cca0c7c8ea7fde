package apiproxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/claude-ops/claude-ops/internal/fakeapi"
	"github.com/claude-ops/claude-ops/session"
)

// nopMeter allows everything and drops usage.
type nopMeter struct{}

func (nopMeter) Usage(string, string, session.Tokens, float64) {}
func (nopMeter) Allow(string) error                            { return nil }

// BenchmarkProxy measures one streamed Messages request (a text block and a
// tool call, 10 SSE events) sent straight to the fake upstream, through the
// proxy, and through the proxy with metering, for a small body and one of
// the size the CLI sends (system prompt and tools: ~100 KB).
//
//	go test -run '^$' -bench BenchmarkProxy -benchmem ./apiproxy/
func BenchmarkProxy(b *testing.B) {
	up := fakeapi.New(fakeapi.Sequence(fakeapi.Turn{Text: "Let me check.", Tools: []fakeapi.ToolUse{fakeapi.Bash("echo hello")}}))
	defer up.Close()
	p, _ := newProxy(b, up.URL(), nil)
	srv := serve(b, p)
	plain, _ := p.Register(Session{ID: "plain"})
	metered, _ := p.Register(Session{ID: "metered", Meter: nopMeter{}})

	for _, size := range []struct {
		name string
		body string
	}{
		{"small", messagesBody},
		{"100KB", bigBody(100 << 10)},
	} {
		for _, mode := range []struct {
			name, base, key string
		}{
			{"direct", up.URL(), realKey},
			{"proxy", srv.URL, plain},
			{"proxy+meter", srv.URL, metered},
		} {
			b.Run(size.name+"/"+mode.name, func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
				defer client.CloseIdleConnections()
				b.SetBytes(int64(len(size.body)))
				b.ReportAllocs()
				for b.Loop() {
					req, _ := http.NewRequest(http.MethodPost, mode.base+"/v1/messages?beta=true", strings.NewReader(size.body))
					req.Header.Set("X-Api-Key", mode.key)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Anthropic-Version", "2023-06-01")
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || n < 500 {
						b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
					}
				}
			})
		}
	}
}

// bigBody is a Messages request of about n bytes, model first as the CLI
// sends it.
func bigBody(n int) string {
	b, _ := json.Marshal(map[string]any{
		"model": "claude-haiku-5-5", "max_tokens": 1000, "stream": true,
		"system":   []any{map[string]any{"type": "text", "text": strings.Repeat("You are an ops agent. ", n/22)}},
		"messages": []any{map[string]any{"role": "user", "content": "check health"}},
	})
	return string(b)
}
