package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Server is a running fake Messages API. Point ANTHROPIC_BASE_URL at URL().
type Server struct {
	srv *httptest.Server

	estimate bool
	closing  chan struct{}
	once     sync.Once

	mu     sync.Mutex
	script Script
	reqs   []Request
	ids    int
}

// Option configures a Server.
type Option func(*Server)

// EstimateUsage makes turns without Usage.InputTokens report the server's
// estimate of the request's input tokens, so costs look like real ones.
func EstimateUsage() Option { return func(s *Server) { s.estimate = true } }

// New starts a server that answers with script. Close it when done.
func New(script Script, opts ...Option) *Server {
	s := &Server{script: script, closing: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", s.messages)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// HEAD /api/hello and any other probe: harmless 200.
		w.WriteHeader(http.StatusOK)
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// Start is New with the server closed at the end of the test.
func Start(t testing.TB, script Script, opts ...Option) *Server {
	t.Helper()
	s := New(script, opts...)
	t.Cleanup(s.Close)
	return s
}

// URL is the base URL (ANTHROPIC_BASE_URL).
func (s *Server) URL() string { return s.srv.URL }

// Close ends delayed answers and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetScript replaces the script for the requests that follow.
func (s *Server) SetScript(script Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = script
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

func (s *Server) nextID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids++
	return fmt.Sprintf("%s_fake%06d", prefix, s.ids)
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", s.nextID("req"))
		return
	}
	req.APIKey = r.Header.Get("x-api-key")

	s.mu.Lock()
	s.reqs = append(s.reqs, *req)
	script := s.script
	s.mu.Unlock()

	turn := Turn{Text: "Done."}
	if script != nil {
		turn = script(req)
	}
	if turn.Delay > 0 {
		timer := time.NewTimer(turn.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		}
	}
	requestID := s.nextID("req")
	if turn.Status != 0 && turn.Status != http.StatusOK {
		writeError(w, turn.Status, turn.ErrorType, requestID)
		return
	}
	if turn.Text == "" && len(turn.Tools) == 0 {
		turn.Text = "Done."
	}
	usage := turn.Usage
	if usage.InputTokens == 0 {
		usage.InputTokens = 100
		if s.estimate {
			usage.InputTokens = max(1, req.EstimatedInputTokens)
		}
	}
	w.Header().Set("request-id", requestID)
	if !req.Stream { // as the real API: the whole message as JSON
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(message(s.nextID("msg"), req.Model, turn, usage, func() string { return s.nextID("toolu") }))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	streamTurn(&sseWriter{w: w, f: f}, s.nextID("msg"), req.Model, turn, usage,
		func() string { return s.nextID("toolu") })
}
