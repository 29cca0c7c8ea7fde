package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gaugeDef describes one gauge family the Tier1Collector builds itself: the
// Desc for the Collector path, name and help for the Gatherer path.
type gaugeDef struct {
	name, help string
	desc       *prometheus.Desc
}

func newGaugeDef(name, help string, labels ...string) *gaugeDef {
	return &gaugeDef{name: name, help: help, desc: prometheus.NewDesc(name, help, labels, nil)}
}

// family wraps samples in a metric family of this definition.
func (d *gaugeDef) family(ms []*dto.Metric) *dto.MetricFamily {
	return &dto.MetricFamily{Name: &d.name, Help: &d.help, Type: dto.MetricType_GAUGE.Enum(), Metric: ms}
}

// staticGauge is an immutable gauge sample whose protobuf form is built once,
// when the state changes, so that a scrape allocates nothing for it.
//
// Its label pairs and value are shared by every scrape: readers must not
// modify them. The registry, promhttp, expfmt and testutil only read them
// (protobuf's size cache is updated atomically); wrapping registerers append
// to a copy because the label slice's capacity is its length.
type staticGauge struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

var _ prometheus.Metric = (*staticGauge)(nil)

func (g *staticGauge) Desc() *prometheus.Desc { return g.desc }

func (g *staticGauge) Write(out *dto.Metric) error {
	out.Label = g.m.Label
	out.Gauge = g.m.Gauge
	return nil
}

func newGaugeValue(v float64) *dto.Gauge { return &dto.Gauge{Value: &v} }

func labelPair(name, value *string) *dto.LabelPair {
	return &dto.LabelPair{Name: name, Value: value}
}
