package runner

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// egressProxy is the network way out of a sandboxed session: an HTTP proxy
// (CONNECT tunnels and absolute-form requests) on a unix socket that the
// sandbox reaches through a socat bridge, and that the CLI's sandbox uses for
// Bash (sandbox.network.httpProxyPort). It lets through only hosts of the
// allowlist; the sandbox has no other network.
type egressProxy struct {
	ln      net.Listener
	srv     *http.Server
	allowed []string
	log     *slog.Logger
	dialer  net.Dialer
	tr      *http.Transport

	mu    sync.Mutex
	conns map[net.Conn]bool // hijacked tunnels, closed by Close
}

const egressDialTimeout = 10 * time.Second

func startEgress(sock string, allowed []string, log *slog.Logger) (*egressProxy, error) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	e := &egressProxy{ln: ln, allowed: allowed, log: log, conns: map[net.Conn]bool{},
		dialer: net.Dialer{Timeout: egressDialTimeout}}
	// No Proxy: the daemon's own proxy settings are not the session's.
	e.tr = &http.Transport{DialContext: e.dialer.DialContext, ForceAttemptHTTP2: false,
		ResponseHeaderTimeout: time.Minute, MaxIdleConns: 4}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// Close stops the proxy and cuts its tunnels.
func (e *egressProxy) Close() {
	_ = e.srv.Close()
	e.tr.CloseIdleConnections()
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.Close()
	}
	e.conns = nil
}

// domainAllowed reports whether host is on the allowlist: an entry matches
// itself, and "*.example.com" matches the names under example.com.
func domainAllowed(host string, allowed []string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSuffix(a, "."))
		if rest, ok := strings.CutPrefix(a, "*."); ok {
			if strings.HasSuffix(host, "."+rest) {
				return true
			}
		} else if host == a {
			return true
		}
	}
	return false
}

func (e *egressProxy) deny(w http.ResponseWriter, host string) {
	e.log.Warn("sandbox egress blocked", "host", host)
	http.Error(w, "Connection blocked by the claude-ops sandbox: "+host+" is not on the network allowlist", http.StatusForbidden)
}

func (e *egressProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		e.tunnel(w, r)
		return
	}
	if r.URL.Host == "" || (r.URL.Scheme != "http" && r.URL.Scheme != "https") {
		http.Error(w, "claude-ops sandbox egress: only proxy requests", http.StatusBadRequest)
		return
	}
	if !domainAllowed(r.URL.Hostname(), e.allowed) {
		e.deny(w, r.URL.Hostname())
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	resp, err := e.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, "claude-ops sandbox egress: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (e *egressProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, "claude-ops sandbox egress: bad CONNECT target", http.StatusBadRequest)
		return
	}
	if !domainAllowed(host, e.allowed) {
		e.deny(w, host)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), egressDialTimeout)
	up, err := e.dialer.DialContext(ctx, "tcp", r.Host)
	cancel()
	if err != nil {
		http.Error(w, "claude-ops sandbox egress: "+err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no tunnels", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !e.track(up, down) {
		return
	}
	defer e.untrack(up, down)
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the client sent after its CONNECT are in buf.
		_, _ = io.Copy(up, io.MultiReader(buf.Reader, down))
		halfClose(up)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(down, up)
		halfClose(down)
		done <- struct{}{}
	}()
	<-done
	<-done
}

func halfClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func (e *egressProxy) track(cs ...net.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		e.conns[c] = true
	}
	return true
}

func (e *egressProxy) untrack(cs ...net.Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(e.conns, c) // no-op on nil after Close
	}
}
