package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// auth guards h with the webhook's token when one is configured (SPEC.md
// §6): a request carries it as a bearer token (scripts, Grafana's data
// source) or as the password of HTTP basic auth, any user name (a browser,
// which asks for it on the 401). Without a token everything is open, as the
// webhook is with --webhook.no-auth.
func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	if len(a.Token) == 0 {
		return h
	}
	want := sha256.Sum256(a.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if got, ok := credential(r); ok {
			g := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(g[:], want[:]) == 1 {
				h(w, r)
				return
			}
		}
		w.Header().Add("WWW-Authenticate", `Basic realm="Claude Ops", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="Claude Ops"`)
		fail(w, http.StatusUnauthorized, "unauthorized: send the webhook token as a bearer token, or as the password of basic auth")
	}
}

// credential is the token a request carries, bearer or basic.
func credential(r *http.Request) (string, bool) {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass, pass != ""
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
