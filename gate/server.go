package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// DecidePath is the HTTP path the hook posts a DecideRequest to.
const DecidePath = "/v1/decide"

// SocketName is the gate's socket file in the state folder.
const SocketName = "gate.sock"

// maxRequest bounds a request body (tool inputs hold whole files for Write).
const maxRequest = 8 << 20

// Server serves a Gate over HTTP on a unix socket (mode 0600). Serve and
// Close fit an oklog/run actor.
type Server struct {
	gate *Gate
	path string
	srv  *http.Server

	mu     sync.Mutex
	ln     net.Listener
	closed bool
}

// NewServer returns a server for g on the unix socket at path.
func NewServer(g *Gate, path string) *Server {
	s := &Server{gate: g, path: path}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+DecidePath, s.decide)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	return s
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Listen creates the socket, removing a stale one (a socket file nobody
// answers on). Serve calls it when it has not been called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return http.ErrServerClosed
	}
	if s.ln != nil {
		return nil
	}
	if fi, err := os.Lstat(s.path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("gate: %s exists and is not a socket", s.path)
		}
		if c, err := net.DialTimeout("unix", s.path, time.Second); err == nil {
			_ = c.Close()
			return fmt.Errorf("gate: %s is in use by another process", s.path)
		}
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("gate: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return fmt.Errorf("gate: listen: %w", err)
	}
	if err := os.Chmod(s.path, 0o600); err != nil {
		_ = ln.Close()
		return fmt.Errorf("gate: chmod socket: %w", err)
	}
	s.ln = ln
	return nil
}

// Serve answers hook requests until ctx is done or Close is called; it then
// returns nil.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
	s.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server and removes the socket. Requests in flight are given
// a few seconds to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if ln != nil {
		_ = os.Remove(s.path)
	}
	return err
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	var req DecideRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, Decision{Reason: "malformed request"})
		return
	}
	writeJSON(w, http.StatusOK, s.gate.Decide(r.Context(), req))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
