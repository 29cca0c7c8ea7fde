package collector

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/claude-ops/claude-ops/session"
)

// The statuses of a probe, the values of claudeops_check_status's status
// label. Only ok counts as success.
const (
	StatusOK       = "ok"
	StatusDegraded = "degraded"
	StatusFailing  = "failing"
	StatusUnknown  = "unknown"
)

// CheckStatuses are the statuses of claudeops_check_status, in export order.
var CheckStatuses = []string{StatusOK, StatusDegraded, StatusFailing, StatusUnknown}

// ProbeCheck is the latest result of one probe of the running plan.
type ProbeCheck struct {
	Service string
	Check   string // the probe's name
	Type    session.ProbeType
	// Status is one of CheckStatuses; anything else is unknown.
	Status string
	// Seconds is how long the probe took.
	Seconds float64
}

// ProbeState is what the daemon's probes export through a Tier1Collector.
type ProbeState struct {
	// Active says a probe plan runs: Checks replace the checks the latest
	// Tier 1 result reported, and each gets claudeops_check_status too.
	Active bool
	Checks []ProbeCheck
	// Unplanned counts, per service, the checks the plan does not cover
	// (claudeops_checks_unplanned); services with 0 are not exported.
	Unplanned map[string]int
}

// probeType maps a probe type onto its type label: itself, or custom.
func probeType(t session.ProbeType) string {
	if slices.Contains(session.ProbeTypes, t) {
		return string(t)
	}
	return "custom"
}

// addProbes adds the probe checks, each with its claudeops_check_status
// state set.
func (b *tier1Builder) addProbes(ps ProbeState) {
	for _, pc := range ps.Checks {
		status := pc.Status
		if !slices.Contains(CheckStatuses, status) {
			status = StatusUnknown
		}
		b.addStatus(b.add(b.service(pc.Service), pc.Check, probeType(pc.Type), status == StatusOK, pc.Seconds), status)
	}
}

// reportedStatus maps the status a Tier 1 run reported for a check (ok,
// degraded, down, unknown) onto the state set: down is failing.
func reportedStatus(s string) string {
	switch s = strings.ToLower(s); s {
	case "down":
		return StatusFailing
	case StatusOK, StatusDegraded, StatusFailing:
		return s
	}
	return StatusUnknown
}

// addStatus gives check c (nil: dropped) its claudeops_check_status state
// set: 1 for status, 0 for the others.
func (b *tier1Builder) addStatus(c *builtCheck, status string) {
	if c == nil {
		return
	}
	labels := c.success.Label
	c.status = make([]*dto.Metric, len(CheckStatuses))
	for i, st := range CheckStatuses {
		v := gaugeZero
		if st == status {
			v = gaugeOne
		}
		c.status[i] = &dto.Metric{Gauge: v, Label: []*dto.LabelPair{ // sorted by name; cap == len
			labels[0], labels[1], statusPairs[st], labels[2],
		}}
	}
}

// addUnplanned builds the claudeops_checks_unplanned samples, sorted.
func (b *tier1Builder) addUnplanned(unplanned map[string]int) {
	perService := map[string]int{}
	for svc, n := range unplanned {
		if n > 0 {
			perService[SanitizeLabel(svc)] += n
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(perService)) {
		b.unplanned = append(b.unplanned, &dto.Metric{
			Label: []*dto.LabelPair{labelPair(nameService, b.service(svc))},
			Gauge: newGaugeValue(float64(perService[svc])),
		})
	}
}

// compareLabels orders samples of one family as a registry does: by label
// values, in label name order (every sample has the same names).
func compareLabels(x, y *dto.Metric) int {
	for i := range min(len(x.Label), len(y.Label)) {
		if c := cmp.Compare(x.Label[i].GetValue(), y.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x.Label), len(y.Label))
}
