// Package remediator turns Alertmanager alerts into incidents, one per
// service, and drives each through Tier 2, Tier 3 and, failing those, a human
// (SPEC.md §1).
//
// Alerts come in through Enqueue (the webhook's Sink), which only appends to
// a bounded queue. A single event loop (Run) owns every incident: it joins
// alerts to open incidents, opens new ones, starts sessions in worker
// goroutines (at most Config.Concurrency at once, one per service, in arrival
// order), verifies fixes against the monitoring system, escalates, pages a
// human through Alertmanager, and persists every transition so that incidents
// survive a restart (Resume).
//
// What to do about an incident is decided by one pure function,
// (*incident).Handle (machine.go): an event in, the effects out. The loop
// (loop.go) only feeds it events and carries out the effects, with the
// session slots (slots.go), the Alertmanager watch (watch.go), the intake of
// alerts (intake.go) and persistence (persist.go) beside it.
package remediator

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/claude-ops/claude-ops/inbox"
	"github.com/claude-ops/claude-ops/prompts"
	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/sessions"
	"github.com/claude-ops/claude-ops/store"
	"github.com/claude-ops/claude-ops/webhook"
)

// Defaults of Config's zero fields.
const (
	DefaultConcurrency        = 2
	DefaultVerifyTimeout      = 10 * time.Minute
	DefaultPollInterval       = 5 * time.Second
	DefaultMaxServicesPerHour = 5
	DefaultQueueSize          = 10000
	// DefaultSaveEvery is the daemon's Config.SaveEvery.
	DefaultSaveEvery = time.Second
)

// Timings of the alerts Claude Ops pushes to Alertmanager.
const (
	// AlertResendInterval is how often a needs-human alert is re-posted.
	AlertResendInterval = time.Minute
	// AlertTTL is the endsAt given to pushed alerts, from now.
	AlertTTL = 5 * time.Minute
	// blastWindow is the sliding window of Config.MaxServicesPerHour.
	blastWindow = time.Hour
	// maxDescription bounds the description annotation of pushed alerts.
	maxDescription = 4000
)

// Config is the remediator's configuration. Zero fields take the defaults.
type Config struct {
	// Concurrency is the most sessions run at once (--remediation.concurrency).
	Concurrency int
	// VerifyTimeout is how long a tier's fix has to make its alerts resolve
	// (--remediation.verify-timeout).
	VerifyTimeout time.Duration
	// PollInterval is how often Alertmanager is asked whether alerts resolved.
	PollInterval time.Duration
	// MaxServicesPerHour is the most distinct services that get a session
	// started in a sliding hour (--remediation.max-services-per-hour); a
	// negative value means no limit.
	MaxServicesPerHour int
	// QueueSize is the most alerts waiting for the event loop; beyond,
	// Enqueue returns webhook.ErrFull.
	QueueSize int
	// SaveEvery, if positive, bounds how often the changes that alerts alone
	// made are saved: at most one save per SaveEvery (and per ten times the
	// last save's duration), the first change after a quiet spell at once.
	// In a storm nearly every alert changes another incident between two
	// passes of the loop, and each save re-encodes whole incidents and
	// commits with an fsync. The alerts are safe meanwhile: their inbox
	// batches count as applied only with the save that holds what they
	// produced, and are replayed after a crash; a stop saves. That includes
	// an incident closed by its alerts resolving: a replay closes it again.
	// Any other change (a session started, cancelled or ended, an incident
	// closed by a session's end) is saved at the end of its event, or within
	// 20 ms of the last save (urgentSaveEvery).
	// Zero saves after every event.
	SaveEvery time.Duration
	// DryRun is given to the sessions' handoff.
	DryRun bool
	// AlertmanagerURL enables pushing alerts and verifying through the API v2
	// (--alertmanager.url); empty means off. Ignored when Deps.Alertmanager is set.
	AlertmanagerURL string
	Logger          *slog.Logger
}

// Sessions runs Tier 2 and Tier 3 sessions (*sessions.Manager).
type Sessions interface {
	// Run runs a session to its end. It returns sessions.ErrBudget when the
	// budget forbids it.
	Run(ctx context.Context, spec sessions.Spec) (session.Record, error)
	// Cancel stops a running session with outcome o.
	Cancel(id string, o session.Outcome) bool
}

// LiveSessions is implemented by Sessions that show a running session's
// record so far, with the actions decided until now (*sessions.Manager).
// When an incident's alerts all resolve while its session runs, a session
// that had done a change before they resolved is stopped with outcome
// remediated, any other with outcome resolved. Without it, the session is stopped as
// resolved and the actions of its final record decide the incident's outcome.
type LiveSessions interface {
	Get(id string) (rec session.Record, done <-chan struct{}, ok bool)
}

// Store persists incidents (*store.Store).
type Store interface {
	// SaveIncidents saves incidents and, in the same transaction, raises
	// the inbox's applied sequence number to applied (0: unchanged).
	SaveIncidents(ctx context.Context, ins iter.Seq[store.Incident], applied uint64) error
	GetIncident(ctx context.Context, id string) (store.Incident, error)
	OpenIncidents(ctx context.Context) ([]store.Incident, error)
	ListIncidents(ctx context.Context, limit int) ([]store.Incident, error)
	// IncidentSessionsSince lists the sessions of incidents started since
	// a time, with their services (the blast radius after a restart).
	IncidentSessionsSince(ctx context.Context, since time.Time) ([]store.SessionStart, error)
}

// Alertmanager pushes alerts and reports which are still active
// (*AlertmanagerClient).
type Alertmanager interface {
	Push(ctx context.Context, alerts []PostableAlert) error
	Active(ctx context.Context, fingerprints []string) (map[string]bool, error)
}

// ContextProvider gives a session's handoff what is known of the service.
type ContextProvider interface {
	// Tier1 returns Tier 1's latest results for the service, nil if none.
	Tier1(ctx context.Context, service string) *session.Service
	// RepoRules returns the rules of the repo that holds the service.
	RepoRules(service string) string
}

// PromptFunc builds a tier's prompts from a handoff (prompts.Remediation).
type PromptFunc func(t session.Tier, h prompts.Handoff) (system, user string)

// Deps are the remediator's collaborators. Sessions and Store are required.
type Deps struct {
	Sessions Sessions
	Store    Store
	// Alertmanager nil: built from Config.AlertmanagerURL, if set.
	Alertmanager Alertmanager
	// Context nil: handoffs carry no Tier 1 results and no repo rules.
	Context ContextProvider
	// Prompt nil: prompts.Remediation.
	Prompt PromptFunc
	// Registerer receives the remediator's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Inbox nil: the queue lives in memory only, and alerts acknowledged
	// just before a crash wait for Alertmanager's next resend. Its batches
	// after the Store's applied number must be the ones Replay hands over
	// (inbox.Open with Options.After = Store.InboxApplied).
	Inbox Inbox
	// Canonical, if set, names the service an alert's service label means
	// (the catalog's canonical name of a container alias, "/name", ...):
	// alerts on any of a service's names join one incident. nil: the label
	// as it comes.
	Canonical func(name string) string
	// OnClose, if set, is told of each incident as it closes, with its
	// verified outcome (package memory scores memories by it). It runs on
	// the event loop: it must return quickly. An incident resumed after a
	// crash may be told twice.
	OnClose func(Incident)
}

// Inbox is a durable log of batches (*inbox.Log): Enqueue appends each batch
// before it answers and queues it in Append's commit, so batches reach the
// queue in the order they are numbered; the loop saves the highest number
// applied with the incidents it changed (Store.SaveIncidents) and then
// tells Applied; Resume replays the batches after the last number saved.
// A replayed alert is applied as if it came again.
type Inbox interface {
	Append(ctx context.Context, data []byte, commit func(seq uint64) error) (uint64, error)
	Replay(fn func(inbox.Record) error) error
	Applied(seq uint64) error
}

// Remediator is the incident state machine. Create it with New, call Resume
// then Run once.
type Remediator struct {
	cfg       Config
	log       *slog.Logger
	sessions  Sessions
	store     Store
	am        watch
	ctxp      ContextProvider
	prompt    PromptFunc
	inbox     Inbox
	onClose   func(Incident)
	canonical func(string) string
	pol       policy
	m         *metrics

	// inbox, written by Enqueue and CooldownRefused, drained by the loop.
	mu       sync.Mutex
	queue    []webhook.Alert
	spare    []webhook.Alert
	queueSeq uint64 // the inbox number of the last batch queued
	// batchBufs holds *[]byte buffers that Enqueue encodes batches in.
	batchBufs sync.Pool
	refusals  []refusal
	wake      chan struct{}

	// views published by the loop for the API.
	viewMu sync.RWMutex
	views  map[string]Incident

	// lp is owned by the goroutine that calls Resume and Run.
	lp *loopState
}

type refusal struct{ incident, reason string }

// New returns a remediator.
func New(cfg Config, d Deps) (*Remediator, error) {
	if d.Sessions == nil || d.Store == nil {
		return nil, errors.New("remediator: Sessions and Store are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.VerifyTimeout <= 0 {
		cfg.VerifyTimeout = DefaultVerifyTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxServicesPerHour == 0 {
		cfg.MaxServicesPerHour = DefaultMaxServicesPerHour
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Remediator{
		cfg: cfg, log: cfg.Logger, sessions: d.Sessions, store: d.Store, am: noWatch{},
		ctxp: d.Context, prompt: d.Prompt, inbox: d.Inbox, onClose: d.OnClose, canonical: d.Canonical,
		pol:   policy{VerifyTimeout: cfg.VerifyTimeout, DryRun: cfg.DryRun},
		wake:  make(chan struct{}, 1),
		views: map[string]Incident{},
	}
	am := d.Alertmanager
	if am == nil && cfg.AlertmanagerURL != "" {
		c, err := NewAlertmanagerClient(cfg.AlertmanagerURL, nil)
		if err != nil {
			return nil, err
		}
		am = c
	}
	if r.prompt == nil {
		r.prompt = prompts.Remediation
	}
	if r.canonical == nil {
		r.canonical = func(name string) string { return name }
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, fmt.Errorf("remediator metrics: %w", err)
	}
	r.m = m
	if am != nil {
		r.am = newAMWatch(am, cfg.PollInterval, cfg.Logger, m)
	}
	r.lp = newLoopState(cfg)
	return r, nil
}

var (
	_ webhook.Sink = (*Remediator)(nil)
	_ Sessions     = (*sessions.Manager)(nil)
	_ LiveSessions = (*sessions.Manager)(nil)
	_ Store        = (*store.Store)(nil)
	_ Tier1Loader  = (*store.Store)(nil)
	_ Alertmanager = (*AlertmanagerClient)(nil)
)

// Incidents returns the open incidents, oldest first.
func (r *Remediator) Incidents() []Incident {
	r.viewMu.RLock()
	out := make([]Incident, 0, len(r.views))
	for _, v := range r.views {
		out = append(out, v)
	}
	r.viewMu.RUnlock()
	sortIncidents(out)
	return out
}

// Get returns an incident, open or closed.
func (r *Remediator) Get(ctx context.Context, id string) (Incident, error) {
	r.viewMu.RLock()
	v, ok := r.views[id]
	r.viewMu.RUnlock()
	if ok {
		return v, nil
	}
	rec, err := r.store.GetIncident(ctx, id)
	if err != nil {
		return Incident{}, err
	}
	return DecodeIncident(rec)
}

// Recent returns the latest incidents, open or closed, newest first, as the
// store holds them (limit <= 0: all).
func (r *Remediator) Recent(ctx context.Context, limit int) ([]Incident, error) {
	recs, err := r.store.ListIncidents(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Incident, 0, len(recs))
	for _, rec := range recs {
		v, err := DecodeIncident(rec)
		if err != nil {
			r.log.Warn("undecodable incident", "id", rec.ID, "err", err)
			continue
		}
		out = append(out, v)
	}
	return out, nil
}
