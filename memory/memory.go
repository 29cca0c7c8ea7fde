// Package memory keeps what remediation sessions learn about services
// (issue 15). A Tier 2 or 3 session may end its structured result with
// `memories` (service, observation, confidence; session.Memory). When the
// incident closes with its verified outcome (remediator.Deps.OnClose), its
// sessions' memories are redacted, scored (Score) and stored; the next
// session about a service gets its best few in the handoff (Prompt), quoted
// as untrusted data with their score and age.
package memory

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/remediator"
	"github.com/claude-ops/claude-ops/runner"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// DefaultTop is how many memories a handoff gets by default.
const DefaultTop = 3

// maxService bounds a memory's service name (the schema's).
const maxService = 200

// timeout bounds each store call: OnClose runs on the remediator's loop.
const timeout = 5 * time.Second

// Store keeps memories (*store.Store).
type Store interface {
	SaveMemories(ctx context.Context, ms []store.Memory) error
	ListMemories(ctx context.Context, q store.MemoryQuery) ([]store.Memory, error)
	CountMemories(ctx context.Context) (map[string]int, error)
}

var _ Store = (*store.Store)(nil)

// Config configures Memories. Store is required.
type Config struct {
	Store Store
	// Secrets are redacted from every memory before it is stored: the
	// runner's list (runner.Config.Secrets and its API key).
	Secrets []string
	// Top is how many memories a handoff gets (default DefaultTop).
	Top int
	// Base builds the prompts Prompt adds memories to (nil:
	// prompts.Remediation).
	Base remediator.PromptFunc
	// Registerer receives claudeops_memories and
	// claudeops_memories_recorded_total; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Memories records, scores and serves memories.
type Memories struct {
	st      Store
	red     func(string) string
	top     int
	base    remediator.PromptFunc
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
}

// New returns Memories and registers its metrics.
func New(cfg Config) (*Memories, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("memory: Store is required")
	}
	m := &Memories{st: cfg.Store, red: runner.Redactor(cfg.Secrets...), top: cfg.Top, base: cfg.Base, log: cfg.Logger, now: cfg.Now}
	if m.top <= 0 {
		m.top = DefaultTop
	}
	if m.base == nil {
		m.base = prompts.Remediation
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.metrics = newMetrics(cfg.Registerer)
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(&countCollector{st: cfg.Store, log: m.log}); err != nil {
			return nil, fmt.Errorf("memory metrics: %w", err)
		}
	}
	return m, nil
}

// OnClose stores the memories of a closed incident's sessions, scored by its
// outcome (remediator.Deps.OnClose). Storing them twice (an incident closed
// again after a crash) replaces them.
func (m *Memories) OnClose(in remediator.Incident) {
	ms := m.extract(in)
	if len(ms) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := m.st.SaveMemories(ctx, ms); err != nil {
		m.log.Error("cannot store the incident's memories", "incident", in.ID, "memories", len(ms), "err", err)
		return
	}
	for _, mem := range ms {
		m.metrics.recorded.WithLabelValues(mem.Verdict).Inc()
	}
	m.log.Info("memories recorded", "incident", in.ID, "service", in.Service, "outcome", in.Outcome, "memories", len(ms))
}

// extract returns the memories of a closed incident's sessions, redacted,
// bounded and scored.
func (m *Memories) extract(in remediator.Incident) []store.Memory {
	outcomes := Outcomes(in)
	scored := in.Closed
	if scored.IsZero() {
		scored = m.now()
	}
	var out []store.Memory
	for _, s := range in.Sessions {
		if s.Result == nil {
			continue
		}
		created := s.End
		if created.IsZero() {
			created = scored
		}
		o := outcomes[s.ID]
		seq := 0
		for _, raw := range s.Result.Memories {
			if seq >= session.MaxMemories {
				break
			}
			svc := bound(m.red(strings.TrimSpace(raw.Service)), maxService)
			obs := bound(m.red(strings.TrimSpace(raw.Observation)), session.MaxMemoryObservation)
			if svc == "" || obs == "" {
				continue
			}
			c := clamp01(raw.Confidence)
			out = append(out, store.Memory{
				Service: svc, Observation: obs, Confidence: c,
				Score: Score(o, c), Verdict: string(Judge(o)),
				IncidentID: in.ID, Outcome: string(in.Outcome), SessionID: s.ID, Seq: seq, Tier: int(s.Tier),
				Created: created, Scored: scored,
			})
			seq++
		}
	}
	return out
}

// bound cuts s to at most n characters, on a rune boundary.
func bound(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// ForService returns the best memories of a service for a handoff: at most
// Top, of score 0 or more, by score then recency.
func (m *Memories) ForService(ctx context.Context, service string) ([]prompts.Memory, error) {
	if service == "" {
		return nil, nil
	}
	ms, err := m.st.ListMemories(ctx, store.MemoryQuery{Service: service, NonNegative: true, Limit: m.top})
	if err != nil {
		return nil, err
	}
	now := m.now()
	out := make([]prompts.Memory, 0, len(ms))
	for _, mem := range ms {
		out = append(out, prompts.Memory{
			Service: mem.Service, Observation: mem.Observation, Confidence: mem.Confidence,
			Score: mem.Score, Age: Age(now.Sub(mem.Created)), Outcome: mem.Outcome,
		})
	}
	return out, nil
}

// Prompt is a remediator.PromptFunc: Base's prompts, the handoff given the
// service's best memories. Without them (none, or the store failed), the
// handoff is as it was.
func (m *Memories) Prompt(t session.Tier, h prompts.Handoff) (system, user string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ms, err := m.ForService(ctx, h.Service)
	if err != nil {
		m.log.Error("cannot read the service's memories; the session goes without", "service", h.Service, "err", err)
	}
	if len(ms) > 0 {
		h.Memories = append(ms, h.Memories...)
	}
	return m.base(t, h)
}

// Age is a duration as a handoff shows it: minutes under an hour, hours
// under two days, then days.
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "0m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
