package collector

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Merge returns a Gatherer serving the families of every gs, sorted by name,
// for promhttp.HandlerFor. Unlike prometheus.Gatherers it does not re-check
// each sample, which is what keeps a scrape of a large Tier1Collector cheap;
// in exchange the gatherers must not share family names. A duplicate name is
// an error (the first family is kept), as in a registry.
//
//	h := promhttp.HandlerFor(collector.Merge(reg, tier1), promhttp.HandlerOpts{})
func Merge(gs ...prometheus.Gatherer) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		var (
			out  []*dto.MetricFamily
			errs []error
		)
		for _, g := range gs {
			mfs, err := g.Gather()
			if err != nil {
				errs = append(errs, err)
			}
			out = append(out, mfs...)
		}
		slices.SortStableFunc(out, func(x, y *dto.MetricFamily) int { return cmp.Compare(x.GetName(), y.GetName()) })
		out = slices.CompactFunc(out, func(x, y *dto.MetricFamily) bool {
			if x.GetName() == y.GetName() {
				errs = append(errs, fmt.Errorf("metric family %s gathered twice", x.GetName()))
				return true
			}
			return false
		})
		return out, errors.Join(errs...)
	})
}
