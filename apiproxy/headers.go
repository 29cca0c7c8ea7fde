package apiproxy

import (
	"net/http"
	"strings"
)

// hopByHop are the headers of one connection (RFC 9110 §7.6.1), never
// passed on, besides those that Connection names.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// connectionHeaders are the hop-by-hop headers of h: the fixed ones and
// those its Connection header names, canonical.
func connectionHeaders(h http.Header) map[string]bool {
	drop := map[string]bool{}
	for _, k := range hopByHop {
		drop[k] = true
	}
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				drop[http.CanonicalHeaderKey(f)] = true
			}
		}
	}
	return drop
}

// copyRequestHeader passes on what the API needs and nothing else: the
// content type, accept and user agent, the anthropic-* headers (version,
// beta, ...), the SDK's x-stainless-* and the CLI's x-app and
// x-claude-code-* headers. Credentials (x-api-key, authorization), cookies,
// accept-encoding (the client negotiates its own) and hop-by-hop headers are
// left behind.
func copyRequestHeader(dst, src http.Header) {
	drop := connectionHeaders(src)
	for k, vs := range src {
		if drop[k] || !forwardedRequestHeader(k) {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

func forwardedRequestHeader(k string) bool {
	switch k {
	case "Content-Type", "Accept", "User-Agent", "X-App":
		return true
	}
	lk := strings.ToLower(k)
	return strings.HasPrefix(lk, "anthropic-") || strings.HasPrefix(lk, "x-stainless-") ||
		strings.HasPrefix(lk, "x-claude-code-")
}

// copyResponseHeader passes on every header of the answer but hop-by-hop ones.
func copyResponseHeader(dst, src http.Header) {
	drop := connectionHeaders(src)
	for k, vs := range src {
		if !drop[k] {
			dst[k] = append([]string(nil), vs...)
		}
	}
}
