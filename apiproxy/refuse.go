package apiproxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
)

// refuse answers a request that is not to go upstream, and counts why.
func (p *Proxy) refuse(w http.ResponseWriter, ent *entry, status int, reason, errType, msg string) {
	p.metrics.refusals.WithLabelValues(reason).Inc()
	if ent != nil {
		p.log.Info("apiproxy: request refused", "session", ent.sess.ID, "tier", ent.sess.Tier,
			"service", ent.sess.Service, "reason", reason, "msg", msg)
	} else {
		p.log.Info("apiproxy: request refused", "reason", reason)
	}
	p.writeError(w, status, errType, msg)
}

func (p *Proxy) writeError(w http.ResponseWriter, status int, errType, msg string) {
	p.writeErrorRetry(w, status, errType, msg, false)
}

// writeErrorRetry writes an error as the Messages API does, with a request
// id of ours. Unless retry, it tells the client's SDK not to retry.
func (p *Proxy) writeErrorRetry(w http.ResponseWriter, status int, errType, msg string, retry bool) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "req_claudeops_" + hex.EncodeToString(b[:])
	body, _ := json.Marshal(map[string]any{
		"type":       "error",
		"error":      map[string]string{"type": errType, "message": msg},
		"request_id": id,
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Request-Id", id)
	if !retry {
		h.Set("X-Should-Retry", "false")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	p.metrics.requests.WithLabelValues(strconv.Itoa(status)).Inc()
}
