package remediator

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
	"github.com/claude-ops/claude-ops/webhook"
)

// State is where an incident is in its life (persisted as store.Incident.State).
//
//	open ──▶ tier2 ──fixed──▶ verify2 ──resolved──▶ closed (remediated)
//	           │                 │ timeout
//	           └─not fixed─▶ tier3 ◀┘
//	                           ├─fixed──▶ verify3 ──resolved──▶ closed (remediated)
//	                           │            │ timeout
//	                           └─not fixed──┴──▶ needs_human ──resolved──▶ closed (needs_human)
//
// Any state before needs_human closes when every firing alert of the
// incident resolves while no tier claimed a fix; a running session is
// cancelled. The outcome is remediated when that session had done a change
// (a restart, redeploy or playbook with result done) before the alerts
// resolved (their endsAt): the change fixed it; and resolved otherwise,
// including when the change came after the alerts had resolved on their own. Budget, cooldown and blast-radius refusals go to
// needs_human directly.
//
// A session that ended on a model API outage (5xx, 529, 429, timeout) runs
// again at the same tier after APIRetryFirst, APIRetrySecond, APIRetryThird
// (the incident stays in tier2 or tier3, RetryAt set); one more outage goes
// to needs_human (ReasonAPIUnavailable). A session that ended with
// budget_exhausted or auth_failed goes to needs_human directly.
//
// In dry-run nothing pages a human: a session that proposed a change, and
// any incident that would go to needs_human, goes to dry_run instead, with
// one info alert (AlertDryRunProposal); it closes with outcome dry_run when
// its alerts resolve.
type State string

// The incident states.
const (
	// StateOpen: opened, waiting for a slot to run Tier 2.
	StateOpen State = "open"
	// StateTier2: Tier 2 is running (or is to be re-run after a restart).
	StateTier2 State = "tier2"
	// StateVerify2: Tier 2 reported fixed; waiting for the alerts to resolve.
	StateVerify2 State = "verify2"
	// StateTier3: Tier 3 is running or waiting for a slot.
	StateTier3 State = "tier3"
	// StateVerify3: Tier 3 reported fixed; waiting for the alerts to resolve.
	StateVerify3 State = "verify3"
	// StateNeedsHuman: no tier could fix it; a human is paged until the alerts resolve.
	StateNeedsHuman State = "needs_human"
	// StateDryRun: dry-run only; the sessions proposed changes (or could
	// not), reported once; waiting for the alerts to resolve, paging nobody.
	StateDryRun State = "dry_run"
	// StateClosed: final.
	StateClosed State = "closed"
)

// Reasons an incident needs a human, or in dry-run why it stopped
// (Incident.Reason).
const (
	ReasonBudget         = "budget"                // the budget forbade a session, or was spent during one
	ReasonBlastRadius    = "blast_radius"          // too many distinct services remediated this hour
	ReasonCooldown       = "cooldown"              // the action gate refused an action over its cooldown
	ReasonNotFixed       = "not_fixed"             // Tier 3 did not report fixed
	ReasonNotVerified    = "not_verified"          // Tier 3 reported fixed but the alerts kept firing
	ReasonAPIUnavailable = "model_api_unavailable" // the model API failed MaxAPIRetries+1 sessions in a row
	ReasonAuthFailed     = "auth_failed"           // the model API rejected the key
	ReasonProposed       = "proposed"              // dry-run: a session proposed changes
	ReasonNoProposal     = "no_proposal"           // dry-run: no tier proposed a change
)

// Alert is one alert of an incident.
type Alert struct {
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"` // firing or resolved
	// Labels and Annotations are kept as Prometheus keeps label sets: one
	// string each (a map of eight pairs cost three times as much, and a
	// storm keeps thousands); JSON renders them as objects.
	Labels       labels.Labels `json:"labels,omitzero"`
	Annotations  labels.Labels `json:"annotations,omitzero"`
	StartsAt     time.Time     `json:"starts_at,omitzero"`
	EndsAt       time.Time     `json:"ends_at,omitzero"`
	GeneratorURL string        `json:"generator_url,omitempty"`
	RunbookURL   string        `json:"runbook_url,omitempty"`
}

// SessionRef is a session run for an incident and what came of it.
type SessionRef struct {
	ID      string          `json:"id"`
	Tier    session.Tier    `json:"tier"`
	Start   time.Time       `json:"start"`
	End     time.Time       `json:"end,omitzero"`
	Outcome session.Outcome `json:"outcome"`
	// ErrorSubtype is the runner's error subtype (api_error, ...).
	ErrorSubtype string `json:"error_subtype,omitempty"`
	Reason       string `json:"reason,omitempty"`
	// Result is the session's structured output, when it had one.
	Result *session.RemediationResult `json:"result,omitempty"`
	// Actions are the gate's decisions during the session.
	Actions []session.Action `json:"actions,omitempty"`
	CostUSD float64          `json:"cost_usd,omitempty"`
	// NotVerified is set when the session reported fixed but the alerts did
	// not resolve within the verify timeout.
	NotVerified bool `json:"not_verified,omitempty"`
}

// Incident is the JSON view of an incident served by the API; the same
// document is the store record's Data.
type Incident struct {
	ID      string    `json:"id"`
	Service string    `json:"service"`
	State   State     `json:"state"`
	Opened  time.Time `json:"opened"`
	Updated time.Time `json:"updated"`
	Closed  time.Time `json:"closed,omitzero"`
	// Outcome is set once closed: remediated, resolved, needs_human or dry_run.
	Outcome session.Outcome `json:"outcome,omitempty"`
	// Reason is why a human is needed (Reason* constants); Detail says more.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// CooldownRefusal is the gate's reason when it refused a change over a
	// limit (cooldown, blast radius, budget): the limit that blocked.
	CooldownRefusal string `json:"cooldown_refusal,omitempty"`
	// Refused are the changes refused during the sessions, with the stage
	// that refused and why (at most 50).
	Refused []Refusal `json:"refused,omitempty"`
	// APIFailures counts the sessions of the current tier, in a row, that
	// ended on a model API outage; APIError is the last one's error, and
	// RetryAt when the tier runs again.
	APIFailures int       `json:"api_failures,omitempty"`
	APIError    string    `json:"api_error,omitempty"`
	RetryAt     time.Time `json:"retry_at,omitzero"`
	// VerifyDeadline is when verification gives up (verify2, verify3).
	VerifyDeadline  time.Time `json:"verify_deadline,omitzero"`
	NeedsHumanSince time.Time `json:"needs_human_since,omitzero"`
	// Alerts are shared by the copies of an incident (its views, a save):
	// an Alert is never changed once made; a change replaces it.
	Alerts   []*Alert     `json:"alerts"`
	Sessions []SessionRef `json:"sessions"`
}

// incident is the event loop's working copy; Handle (machine.go) is the
// only code that changes it once it is open.
type incident struct {
	Incident
	pol     policy
	running string // id of the running session, "" if none
	waiting bool   // asked for a slot (fxRequestSlot), not granted yet
	// resolving: every alert resolved while the running session could not
	// be looked at; its result decides the outcome.
	resolving  bool
	nextResend time.Time // needs_human: when its alert is posted again
	wakeAt     time.Time // the wake-up last announced (fxWake)
	// alertAt finds an alert by fingerprint (the first, as a scan would):
	// built from Alerts when needed, kept by upsertAlert. A storm's alert
	// otherwise scanned every alert of its incident: quadratic in a
	// service that fires thousands.
	alertAt map[string]int
	indexed int // how many of Alerts alertAt covers
}

// newIncident returns an incident of the service, opened at now, before its
// first alert (evOpened).
func newIncident(id, service string, pol policy, now time.Time) *incident {
	return &incident{pol: pol, Incident: Incident{
		ID: id, Service: service, State: StateOpen, Opened: now, Updated: now,
		Alerts: []*Alert{}, Sessions: []SessionRef{},
	}}
}

// tier is the tier the incident is at (for running and for escalation labels).
func (in *incident) tier() session.Tier {
	switch in.State {
	case StateTier3, StateVerify3:
		return session.Tier3
	}
	return session.Tier2
}

// watched reports whether the incident waits for its alerts to resolve
// (Alertmanager is polled for them).
func (in *incident) watched() bool {
	switch in.State {
	case StateVerify2, StateVerify3, StateNeedsHuman, StateDryRun:
		return true
	}
	return false
}

// wake is when the incident needs an evTick next (zero: never).
func (in *incident) wake() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	switch in.State {
	case StateVerify2, StateVerify3:
		consider(in.VerifyDeadline)
	case StateNeedsHuman:
		consider(in.nextResend)
	case StateClosed:
		return time.Time{}
	}
	if in.running == "" {
		consider(in.RetryAt)
	}
	return next
}

// resumable reports whether an incident read from the store is in a state
// the machine knows.
func (s State) resumable() bool {
	switch s {
	case StateOpen, StateTier2, StateTier3, StateVerify2, StateVerify3, StateNeedsHuman, StateDryRun:
		return true
	}
	return false
}

// view returns a copy safe to hand to other goroutines.
func (in *incident) view() Incident {
	v := in.Incident
	v.Alerts = slices.Clone(v.Alerts)
	v.Sessions = slices.Clone(v.Sessions)
	v.Refused = slices.Clone(v.Refused)
	return v
}

// upsertAlert adds or updates an alert; it reports whether the incident
// changed (a repeated notification of the same alert does not change it).
func (in *incident) upsertAlert(a Alert) bool {
	if i, ok := in.find(a.Fingerprint); ok {
		o := in.Alerts[i]
		if o.Status == a.Status && o.StartsAt.Equal(a.StartsAt) && o.GeneratorURL == a.GeneratorURL &&
			labels.Equal(o.Labels, a.Labels) && labels.Equal(o.Annotations, a.Annotations) {
			return false
		}
		in.Alerts[i] = &a
		return true
	}
	in.Alerts = append(in.Alerts, &a)
	in.alertAt[a.Fingerprint] = len(in.Alerts) - 1
	in.indexed++
	return true
}

// resolveAlert marks an alert resolved; false if the incident does not hold it.
func (in *incident) resolveAlert(a Alert) bool {
	i, ok := in.find(a.Fingerprint)
	if ok {
		in.resolved(i, a.EndsAt)
	}
	return ok
}

// find returns the index of the first alert with that fingerprint.
func (in *incident) find(fp string) (int, bool) {
	if in.alertAt == nil || in.indexed != len(in.Alerts) {
		in.alertAt = make(map[string]int, len(in.Alerts))
		for i, a := range in.Alerts {
			if _, ok := in.alertAt[a.Fingerprint]; !ok {
				in.alertAt[a.Fingerprint] = i
			}
		}
		in.indexed = len(in.Alerts)
	}
	i, ok := in.alertAt[fp]
	return i, ok
}

// resolved replaces alert i with a copy resolved at endsAt.
func (in *incident) resolved(i int, endsAt time.Time) {
	c := *in.Alerts[i]
	c.Status, c.EndsAt = "resolved", endsAt
	in.Alerts[i] = &c
}

// anyFiring reports whether an alert still fires.
func (in *incident) anyFiring() bool {
	for _, a := range in.Alerts {
		if a.Status != "resolved" {
			return true
		}
	}
	return false
}

// firing returns the fingerprints of the alerts still firing.
func (in *incident) firing() []string {
	var fps []string
	for _, a := range in.Alerts {
		if a.Status != "resolved" {
			fps = append(fps, a.Fingerprint)
		}
	}
	return fps
}

// resolvedAt is when the last of the incident's alerts resolved, as
// Alertmanager says (zero when it does not say).
func (in *incident) resolvedAt() time.Time {
	var t time.Time
	for _, a := range in.Alerts {
		if a.EndsAt.After(t) {
			t = a.EndsAt
		}
	}
	return t
}

// session returns the ref of a session of this incident.
func (in *incident) session(id string) *SessionRef {
	for i := range in.Sessions {
		if in.Sessions[i].ID == id {
			return &in.Sessions[i]
		}
	}
	return nil
}

// lastEnded returns the latest ended session of tier t, or nil.
func (in *incident) lastEnded(t session.Tier) *SessionRef {
	for i := len(in.Sessions) - 1; i >= 0; i-- {
		s := &in.Sessions[i]
		if s.Tier == t && s.Outcome != session.OutcomeRunning && s.Outcome != session.OutcomeInterrupted {
			return s
		}
	}
	return nil
}

// savedAlerts is what the store holds of an incident's alerts: the alerts
// as last saved (an Alert is never changed, so one still there is saved as
// it is) and the number of entries of its alert log.
type savedAlerts struct {
	alerts  []*Alert
	entries int
}

// recordOf encodes an incident (or a view of one) for the store: the
// document without its alerts, and a chunk for its alert log with the
// alerts not as in saved. A storm's save writes the alerts that came since
// the last one, not every alert again. When the log would hold more than
// twice the alerts (alerts resolved one by one), it is written afresh. It
// also returns what the store holds once the record is saved. The chunk is
// appended to buf.
func recordOf(v Incident, saved savedAlerts, buf []byte) (store.Incident, savedAlerts, error) {
	alerts := v.Alerts
	v.Alerts = nil
	data, err := json.Marshal(v)
	if err != nil {
		return store.Incident{}, saved, err
	}
	rec := store.Incident{
		ID: v.ID, Service: v.Service, State: string(v.State),
		Opened: v.Opened, Updated: v.Updated, Closed: v.Closed, Data: data,
	}
	var changed []int
	for i, a := range alerts {
		if i >= len(saved.alerts) || saved.alerts[i] != a {
			changed = append(changed, i)
		}
	}
	next := savedAlerts{alerts: alerts, entries: saved.entries + len(changed)}
	if len(alerts) < len(saved.alerts) || next.entries > 2*len(alerts)+8 {
		rec.ResetLog, next.entries = true, len(alerts)
		changed = changed[:0]
		for i := range alerts {
			changed = append(changed, i)
		}
	}
	if len(changed) > 0 {
		rec.Append = appendAlertLog(buf, alerts, changed)
	}
	return rec, next, nil
}

// DecodeIncident turns a store record into the view: the document, its
// alerts from the alert log (a record saved before there was one holds them
// in the document); the record's columns win over the document.
func DecodeIncident(rec store.Incident) (Incident, error) {
	v, _, err := decodeRecord(rec)
	return v, err
}

// decodeRecord is DecodeIncident; it also returns the number of entries of
// the alert log.
func decodeRecord(rec store.Incident) (Incident, int, error) {
	var v Incident
	if len(rec.Data) > 0 {
		if err := json.Unmarshal(rec.Data, &v); err != nil {
			return Incident{}, 0, fmt.Errorf("incident %s: %w", rec.ID, err)
		}
	}
	entries := 0
	if len(rec.Log) > 0 {
		var err error
		if v.Alerts, entries, err = readAlertLog(rec.Log); err != nil {
			return Incident{}, 0, fmt.Errorf("incident %s: %w", rec.ID, err)
		}
	}
	if v.Alerts == nil {
		v.Alerts = []*Alert{}
	}
	v.ID, v.Service, v.State = rec.ID, rec.Service, State(rec.State)
	v.Opened, v.Updated, v.Closed = rec.Opened, rec.Updated, rec.Closed
	return v, entries, nil
}

// alertFrom converts a webhook alert, computing a fingerprint when missing.
func alertFrom(a webhook.Alert) Alert {
	fp := a.Fingerprint
	if fp == "" {
		fp = labelsFingerprint(a.Labels)
	}
	return Alert{
		Fingerprint: fp, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
		RunbookURL: a.Annotations.Get("runbook_url"),
	}
}

// labelsFingerprint hashes the labels in name order (FNV-1a, 0xff after
// each name and value).
func labelsFingerprint(ls labels.Labels) string {
	h := fnv.New64a()
	ls.Range(func(l labels.Label) {
		h.Write([]byte(l.Name))
		h.Write([]byte{0xff})
		h.Write([]byte(l.Value))
		h.Write([]byte{0xff})
	})
	return fmt.Sprintf("%016x", h.Sum64())
}
