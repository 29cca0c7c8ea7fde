package collector

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/claude-ops/claude-ops/session"
	"github.com/claude-ops/claude-ops/store"
)

// DefaultMaxSeries is the default cap on the checks a Tier1Collector exports
// (each check is two series: success and duration).
const DefaultMaxSeries = 20000

// Label names, shared by every label pair the collector builds.
var (
	nameService = new("service")
	nameCheck   = new("check")
	nameType    = new("type")
	nameStatus  = new("status")
)

// typePairs holds one shared type label pair per CheckTypes and
// session.ProbeTypes value.
var typePairs = func() map[string]*dto.LabelPair {
	m := make(map[string]*dto.LabelPair, len(CheckTypes)+len(session.ProbeTypes))
	for _, t := range CheckTypes {
		m[t] = labelPair(nameType, new(t))
	}
	for _, t := range session.ProbeTypes {
		if m[string(t)] == nil {
			m[string(t)] = labelPair(nameType, new(string(t)))
		}
	}
	return m
}()

// statusPairs holds one shared status label pair per CheckStatuses value.
var statusPairs = func() map[string]*dto.LabelPair {
	m := make(map[string]*dto.LabelPair, len(CheckStatuses))
	for _, st := range CheckStatuses {
		m[st] = labelPair(nameStatus, new(st))
	}
	return m
}()

// Shared values of claudeops_check_success.
var (
	gaugeZero = newGaugeValue(0)
	gaugeOne  = newGaugeValue(1)
)

// Tier1Collector exports the latest Tier 1 state (SPEC.md §7): one success
// and one duration series per check of the latest successful result, the
// number of services, the run timestamps, and claudeops_check_series_dropped.
// Update precomputes every sample, so a scrape only hands out prebuilt,
// immutable samples; services and checks missing from a newer result
// disappear with it.
//
// Label values go through SanitizeLabel; the type label is one of
// CheckTypes. Checks that collide after sanitising keep the first. At most
// maxSeries checks are exported; the number cut is the value of
// claudeops_check_series_dropped.
//
// It can be served two ways. As a prometheus.Collector registered in a
// registry, the registry re-checks every sample on each scrape (about 24 ms
// and 5 MB for 10,000 checks on two cores). As a prometheus.Gatherer, combined
// with the registry by Merge and not registered, a scrape costs only the
// encoding.
type Tier1Collector struct {
	maxSeries int

	// in guards the inputs of the snapshot; Update and UpdateProbes each
	// rebuild it whole from both.
	in     sync.Mutex
	state  store.Tier1State
	probes ProbeState

	mu   sync.RWMutex
	snap *tier1Snapshot // immutable once published
}

// tier1Snapshot is one Update's output in both forms; they share samples.
type tier1Snapshot struct {
	metrics  []prometheus.Metric
	families []*dto.MetricFamily // sorted by name, samples sorted by labels
}

var (
	_ prometheus.Collector = (*Tier1Collector)(nil)
	_ prometheus.Gatherer  = (*Tier1Collector)(nil)
)

// NewTier1Collector returns a collector with no state yet (timestamps 0).
// maxSeries caps the exported checks; 0 or less means DefaultMaxSeries.
func NewTier1Collector(maxSeries int) *Tier1Collector {
	if maxSeries <= 0 {
		maxSeries = DefaultMaxSeries
	}
	c := &Tier1Collector{maxSeries: maxSeries}
	c.Update(store.Tier1State{})
	return c
}

// Describe sends the descriptors of every metric the collector exports.
func (c *Tier1Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range tier1Defs {
		ch <- d.desc
	}
	for _, d := range probeDefs {
		ch <- d.desc
	}
}

// Collect sends the samples built by the latest Update.
func (c *Tier1Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.snapshot().metrics {
		ch <- m
	}
}

// Gather returns the families built by the latest Update, sorted as a
// registry sorts them. They are shared with other scrapes: do not modify them.
func (c *Tier1Collector) Gather() ([]*dto.MetricFamily, error) {
	return slices.Clone(c.snapshot().families), nil
}

func (c *Tier1Collector) snapshot() *tier1Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.snap
}

// Update replaces the exported Tier 1 state. It reads LastRun, LastSuccess
// and Result (as LoadTier1 returns them); for a state shaped like a SaveTier1
// argument it falls back to RunAt and Success.
func (c *Tier1Collector) Update(st store.Tier1State) {
	c.in.Lock()
	defer c.in.Unlock()
	c.state = st
	c.rebuild()
}

// UpdateProbes replaces the exported probe results. While ps.Active, the
// check series are the probes' and the checks the latest Tier 1 result
// reported are not exported.
func (c *Tier1Collector) UpdateProbes(ps ProbeState) {
	c.in.Lock()
	defer c.in.Unlock()
	c.probes = ps
	c.rebuild()
}

// rebuild builds and publishes the snapshot of c.state and c.probes; c.in
// is held.
func (c *Tier1Collector) rebuild() {
	st, ps := c.state, c.probes
	lastRun, lastSuccess := st.LastRun, st.LastSuccess
	if lastRun.IsZero() {
		lastRun = st.RunAt
	}
	if lastSuccess.IsZero() && st.Success && st.Result != nil {
		lastSuccess = st.RunAt
	}

	b := tier1Builder{max: c.maxSeries, seen: map[checkKey]struct{}{}, services: map[string]*string{}}
	if st.Result != nil {
		n := 0
		for _, s := range st.Result.Services {
			n += len(s.Checks)
		}
		if ps.Active {
			n = len(ps.Checks)
		}
		b.checks = make([]builtCheck, 0, min(n, c.maxSeries))
		for _, svc := range st.Result.Services {
			service := b.service(svc.Name)
			if ps.Active {
				continue
			}
			for _, chk := range svc.Checks {
				status := reportedStatus(chk.Status)
				b.addStatus(b.add(service, chk.Name, checkType(chk.Type), status == StatusOK, chk.LatencyMS/1000), status)
			}
		}
	}
	services := float64(len(b.services))
	if ps.Active {
		b.addProbes(ps)
	}
	b.addUnplanned(ps.Unplanned)
	c.publish(b.snapshot(services, unixSeconds(lastRun), unixSeconds(lastSuccess), float64(b.dropped)))
}

func (c *Tier1Collector) publish(s *tier1Snapshot) {
	c.mu.Lock()
	c.snap = s
	c.mu.Unlock()
}

type checkKey struct{ service, check, typ string }

type builtCheck struct {
	key               checkKey
	success, duration *dto.Metric // share one label slice
	status            []*dto.Metric
}

// tier1Builder accumulates the samples of one Update.
type tier1Builder struct {
	max      int
	checks   []builtCheck
	seen     map[checkKey]struct{}
	services map[string]*string // sanitised name → shared label value
	dropped  int
	// unplanned are the claudeops_checks_unplanned samples.
	unplanned []*dto.Metric
}

func (b *tier1Builder) service(name string) *string {
	v := SanitizeLabel(name)
	p, ok := b.services[v]
	if !ok {
		p = &v
		b.services[v] = p
	}
	return p
}

// add adds a check of type typ (a key of typePairs) and returns it, nil
// when it is a duplicate or over the cap.
func (b *tier1Builder) add(service *string, name, typ string, ok bool, seconds float64) *builtCheck {
	k := checkKey{*service, SanitizeLabel(name), typ}
	if _, dup := b.seen[k]; dup {
		return nil
	}
	if len(b.checks) >= b.max {
		b.dropped++
		return nil
	}
	b.seen[k] = struct{}{}
	check := k.check
	labels := []*dto.LabelPair{ // sorted by name; cap == len
		labelPair(nameCheck, &check),
		labelPair(nameService, service),
		typePairs[k.typ],
	}
	success := gaugeZero
	if ok {
		success = gaugeOne
	}
	if !(seconds >= 0) { // negative or NaN
		seconds = 0
	}
	b.checks = append(b.checks, builtCheck{key: k,
		success:  &dto.Metric{Label: labels, Gauge: success},
		duration: &dto.Metric{Label: labels, Gauge: newGaugeValue(seconds)},
	})
	return &b.checks[len(b.checks)-1]
}

// snapshot sorts the checks as a registry would (by label values in label
// name order: check, service, type) and builds both forms.
func (b *tier1Builder) snapshot(services, lastRun, lastSuccess, dropped float64) *tier1Snapshot {
	slices.SortFunc(b.checks, func(x, y builtCheck) int {
		return cmp.Or(cmp.Compare(x.key.check, y.key.check),
			cmp.Compare(x.key.service, y.key.service), cmp.Compare(x.key.typ, y.key.typ))
	})
	s := &tier1Snapshot{metrics: make([]prometheus.Metric, 0, 2*len(b.checks)+4)}
	scalar := func(d *gaugeDef, v float64) {
		m := &dto.Metric{Gauge: newGaugeValue(v)}
		s.metrics = append(s.metrics, &staticGauge{desc: d.desc, m: m})
		s.families = append(s.families, d.family([]*dto.Metric{m}))
	}
	scalar(defDropped, dropped)
	if len(b.checks) > 0 {
		dur := make([]*dto.Metric, len(b.checks))
		succ := make([]*dto.Metric, len(b.checks))
		var status []*dto.Metric
		for i, c := range b.checks {
			dur[i], succ[i] = c.duration, c.success
			s.metrics = append(s.metrics,
				&staticGauge{desc: defCheckSuccess.desc, m: c.success},
				&staticGauge{desc: defCheckDuration.desc, m: c.duration})
			for _, m := range c.status {
				status = append(status, m)
				s.metrics = append(s.metrics, &staticGauge{desc: defCheckStatus.desc, m: m})
			}
		}
		s.families = append(s.families, defCheckDuration.family(dur), defCheckSuccess.family(succ))
		if len(status) > 0 {
			slices.SortFunc(status, compareLabels)
			s.families = append(s.families, defCheckStatus.family(status))
		}
	}
	if len(b.unplanned) > 0 {
		for _, m := range b.unplanned {
			s.metrics = append(s.metrics, &staticGauge{desc: defUnplanned.desc, m: m})
		}
		s.families = append(s.families, defUnplanned.family(b.unplanned))
	}
	scalar(defServices, services)
	scalar(defLastRun, lastRun)
	scalar(defLastSuccess, lastSuccess)
	// Families in name order, as Registry.Gather returns them.
	slices.SortFunc(s.families, func(x, y *dto.MetricFamily) int { return cmp.Compare(x.GetName(), y.GetName()) })
	return s
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
