package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

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
