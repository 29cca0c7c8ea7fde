package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// redacted replaces every secret in transcripts and records.
const redacted = "[REDACTED]"

// minSecretLen is the length under which a secret is not redacted: replacing
// every "ab" would wreck the transcript and hide nothing.
const minSecretLen = 4

// redactor replaces secrets in raw text and in JSON text. A secret appears in
// a JSON line escaped ("a\"b" for a"b), and in a JSON string inside a JSON
// string escaped twice (the CLI's result field holds JSON text), so each
// secret is matched in those forms too.
type redactor struct {
	needles [][]byte
	rep     *strings.Replacer
}

func newRedactor(secrets ...string) *redactor {
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		for _, once := range escapes(s) {
			seen[once] = true
			for _, twice := range escapes(once) {
				seen[twice] = true
			}
		}
	}
	forms := make([]string, 0, len(seen))
	for f := range seen {
		forms = append(forms, f)
	}
	// Longest first: strings.Replacer tries the old strings in argument
	// order, so a secret containing another is replaced whole.
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	r := &redactor{}
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		r.needles = append(r.needles, []byte(f))
		pairs = append(pairs, f, redacted)
	}
	r.rep = strings.NewReplacer(pairs...)
	return r
}

// escapes returns s and its JSON string escapes (without quotes): as
// JavaScript's JSON.stringify writes it (the CLI) and as encoding/json writes
// it, with and without HTML escaping.
func escapes(s string) []string {
	out := []string{s, jsEscape(s)}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			q := strings.TrimSuffix(b.String(), "\n")
			out = append(out, q[1:len(q)-1])
		}
	}
	return out
}

// jsEscape escapes s as JSON.stringify does, without the quotes.
func jsEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteRune(c)
			}
		}
	}
	return b.String()
}

// appendRedacted appends line to dst with every secret replaced. Lines with
// no secret, nearly all of them, are copied without allocating.
func (r *redactor) appendRedacted(dst, line []byte) []byte {
	for _, n := range r.needles {
		if bytes.Contains(line, n) {
			return append(dst, r.rep.Replace(string(line))...)
		}
	}
	return append(dst, line...)
}

// String returns s with every secret replaced.
func (r *redactor) String(s string) string {
	if len(r.needles) == 0 {
		return s
	}
	return r.rep.Replace(s)
}

// JSON returns raw with every secret replaced; should the replacement break
// the JSON (a secret that is also a JSON token), it returns the redacted text
// as a JSON string.
func (r *redactor) JSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	out := r.appendRedacted(nil, raw)
	if json.Valid(out) {
		return out
	}
	q, _ := json.Marshal(string(out))
	return q
}

// Redactor returns the redaction every transcript gets, for other places
// that keep text a session produced (memories): each secret of 4 bytes or
// more, raw or JSON-escaped, becomes [REDACTED].
func Redactor(secrets ...string) func(string) string { return newRedactor(secrets...).String }
