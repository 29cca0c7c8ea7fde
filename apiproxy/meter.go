package apiproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/claude-ops/claude-ops/session"
)

// Meter is told what a session spends as it is spent, and may stop it. The
// proxy calls it from many goroutines at once (a session may have several
// requests in flight), in the path of the stream to the CLI: it must be safe
// for concurrent use and must not block.
type Meter interface {
	// Usage reports tokens that upstream served to the session, by model, as
	// an increment (never a running total) since the previous call for the
	// same answer, with their cost at the proxy's prices. A streamed answer
	// is reported event by event, so a session killed mid-stream has been
	// charged for what was served until then.
	Usage(sessionID, model string, u session.Tokens, costUSD float64)
	// Allow is asked before each request goes upstream; a non-nil error
	// refuses the request (a budget refusal) and its text is shown to the CLI.
	Allow(sessionID string) error
}

// maxJSONMeterBytes bounds the non-streamed answer kept for metering; a
// larger answer is passed on but not metered (a metering error).
const maxJSONMeterBytes = 8 << 20

// usageSink sees the bytes of an answer's body as they are passed on to the
// CLI. It never fails the stream.
type usageSink interface {
	Write(p []byte)
	// Close ends the body and returns once everything seen was metered.
	Close()
}

type nopSink struct{}

func (nopSink) Write([]byte) {}
func (nopSink) Close()       {}

// newSink picks how an answer is metered from its content type: SSE event by
// event, JSON from its usage field at the end, anything else not at all.
func (p *Proxy) newSink(ent *entry, reqModel string, resp *http.Response) usageSink {
	if ent.sess.Meter == nil {
		return nopSink{}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	acc := &accountant{p: p, ent: ent, model: reqModel}
	switch mt {
	case "text/event-stream":
		return p.newSSESink(acc)
	case "application/json":
		return &jsonSink{acc: acc}
	}
	return nopSink{}
}

// accountant turns the cumulative usage of one answer into increments for
// the session's Meter.
type accountant struct {
	p     *Proxy
	ent   *entry
	model string
	// seen is the cumulative usage already reported for the current message.
	seen session.Tokens
	// failed is set once a metering error was counted for this answer.
	failed bool
}

// fail counts a metering error, once per answer.
func (a *accountant) fail(msg string, args ...any) {
	if a.failed {
		return
	}
	a.failed = true
	a.p.metrics.meterErrors.Inc()
	a.p.log.Warn("apiproxy: metering: "+msg, append([]any{"session", a.ent.sess.ID}, args...)...)
}

// update reports what cum adds to what was already reported. Counts never go
// back: a smaller cumulative count than seen adds nothing.
func (a *accountant) update(cum session.Tokens) {
	d := session.Tokens{
		Input:         max(0, cum.Input-a.seen.Input),
		Output:        max(0, cum.Output-a.seen.Output),
		CacheRead:     max(0, cum.CacheRead-a.seen.CacheRead),
		CacheCreation: max(0, cum.CacheCreation-a.seen.CacheCreation),
	}
	a.seen = session.Tokens{
		Input:         max(cum.Input, a.seen.Input),
		Output:        max(cum.Output, a.seen.Output),
		CacheRead:     max(cum.CacheRead, a.seen.CacheRead),
		CacheCreation: max(cum.CacheCreation, a.seen.CacheCreation),
	}
	if d == (session.Tokens{}) {
		return
	}
	price, _ := a.p.prices.Lookup(a.model)
	defer func() {
		if r := recover(); r != nil {
			a.fail("Meter.Usage panicked", "panic", r)
		}
	}()
	a.ent.sess.Meter.Usage(a.ent.sess.ID, a.model, d, price.Cost(d))
}

// event meters one decoded stream event. message_start opens a message and
// carries its input and cache counts and the first output count;
// message_delta carries cumulative counts of whichever fields it has.
func (a *accountant) event(ev *anthropic.MessageStreamEventUnion) {
	switch ev.Type {
	case "message_start":
		if ev.Message.Model != "" {
			a.model = string(ev.Message.Model)
		}
		u := ev.Message.Usage
		a.seen = session.Tokens{}
		a.update(session.Tokens{
			Input: u.InputTokens, Output: u.OutputTokens,
			CacheRead: u.CacheReadInputTokens, CacheCreation: u.CacheCreationInputTokens,
		})
	case "message_delta":
		u, cum := ev.Usage, a.seen
		if u.JSON.InputTokens.Valid() {
			cum.Input = u.InputTokens
		}
		if u.JSON.OutputTokens.Valid() {
			cum.Output = u.OutputTokens
		}
		if u.JSON.CacheReadInputTokens.Valid() {
			cum.CacheRead = u.CacheReadInputTokens
		}
		if u.JSON.CacheCreationInputTokens.Valid() {
			cum.CacheCreation = u.CacheCreationInputTokens
		}
		a.update(cum)
	}
}

// sseSink feeds the body through a pipe to the SDK's SSE decoder, which runs
// in its own goroutine and meters each event as it arrives.
type sseSink struct {
	pw     *io.PipeWriter
	done   chan struct{}
	broken bool
}

func (p *Proxy) newSSESink(acc *accountant) *sseSink {
	pr, pw := io.Pipe()
	s := &sseSink{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		// Closing the reader makes later writes fail at once, so a decoder
		// that gave up never holds the stream back.
		defer pr.Close()
		defer func() {
			if r := recover(); r != nil {
				acc.fail("decoder panicked", "panic", r)
			}
		}()
		dec := ssestream.NewDecoder(&http.Response{
			Header: http.Header{"Content-Type": {"text/event-stream"}},
			Body:   pr,
		})
		// One event value, decoded in place: it is large.
		var ev anthropic.MessageStreamEventUnion
		for dec.Next() {
			e := dec.Event()
			switch e.Type {
			case "message_start", "message_delta", "":
			default:
				continue // content, ping, stop, error: no usage
			}
			data := bytes.TrimSpace(e.Data)
			if len(data) == 0 {
				continue
			}
			ev = anthropic.MessageStreamEventUnion{}
			if err := json.Unmarshal(data, &ev); err != nil {
				acc.fail("bad event", "event", e.Type, "err", err)
				continue
			}
			acc.event(&ev)
		}
		if err := dec.Err(); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			acc.fail("stream unreadable", "err", err)
		}
	}()
	return s
}

func (s *sseSink) Write(p []byte) {
	if s.broken {
		return
	}
	if _, err := s.pw.Write(p); err != nil {
		s.broken = true
	}
}

func (s *sseSink) Close() {
	_ = s.pw.Close()
	<-s.done
}

// jsonSink keeps a non-streamed answer and meters its usage field, if any,
// at the end: a non-stream message; errors and count_tokens carry none.
type jsonSink struct {
	acc  *accountant
	buf  bytes.Buffer
	over bool
}

func (s *jsonSink) Write(p []byte) {
	if s.over {
		return
	}
	if s.buf.Len()+len(p) > maxJSONMeterBytes {
		s.over = true
		s.buf = bytes.Buffer{}
		return
	}
	s.buf.Write(p)
}

func (s *jsonSink) Close() {
	if s.over {
		s.acc.fail("answer too large to meter")
		return
	}
	if len(bytes.TrimSpace(s.buf.Bytes())) == 0 {
		return
	}
	var m struct {
		Model string           `json:"model"`
		Usage *anthropic.Usage `json:"usage"`
	}
	if err := json.Unmarshal(s.buf.Bytes(), &m); err != nil {
		s.acc.fail("bad JSON answer", "err", err)
		return
	}
	if m.Usage == nil {
		return
	}
	if m.Model != "" {
		s.acc.model = m.Model
	}
	u := m.Usage
	s.acc.update(session.Tokens{
		Input: u.InputTokens, Output: u.OutputTokens,
		CacheRead: u.CacheReadInputTokens, CacheCreation: u.CacheCreationInputTokens,
	})
}
