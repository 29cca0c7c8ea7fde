package remediator

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// An incident finds its alerts by fingerprint: new ones are added, a
// repeat changes nothing, a changed one is replaced where it stands, a
// resolved one is marked; alerts set as Resume sets them (a record an
// older daemon wrote may hold a fingerprint twice) are found too, the
// first of two.
func TestUpsertAndResolveAlerts(t *testing.T) {
	fired := func(fp, v string) Alert {
		return Alert{Fingerprint: fp, Status: "firing", Labels: labels.FromStrings("v", v)}
	}
	in := newIncident("inc-1", "web", policy{}, time.Unix(0, 0))
	for _, step := range []struct {
		do      func() bool
		changed bool
		want    string // each alert: fingerprint, value, status
	}{
		{func() bool { return in.upsertAlert(fired("a", "1")) }, true, "a=1 firing"},
		{func() bool { return in.upsertAlert(fired("b", "1")) }, true, "a=1 firing, b=1 firing"},
		{func() bool { return in.upsertAlert(fired("a", "1")) }, false, "a=1 firing, b=1 firing"},
		{func() bool { return in.upsertAlert(fired("a", "2")) }, true, "a=2 firing, b=1 firing"},
		{func() bool { return in.resolveAlert(Alert{Fingerprint: "b"}) }, true, "a=2 firing, b=1 resolved"},
		{func() bool { return in.resolveAlert(Alert{Fingerprint: "c"}) }, false, "a=2 firing, b=1 resolved"},
		{func() bool { // as Resume sets them
			in.Alerts = []*Alert{new(fired("x", "1")), new(fired("y", "1")), new(fired("x", "2"))}
			return true
		}, true, "x=1 firing, y=1 firing, x=2 firing"},
		{func() bool { return in.resolveAlert(Alert{Fingerprint: "x"}) }, true, "x=1 resolved, y=1 firing, x=2 firing"},
		{func() bool { return in.upsertAlert(fired("z", "1")) }, true, "x=1 resolved, y=1 firing, x=2 firing, z=1 firing"},
		{func() bool { return in.upsertAlert(fired("y", "3")) }, true, "x=1 resolved, y=3 firing, x=2 firing, z=1 firing"},
	} {
		changed := step.do()
		got := ""
		for i, a := range in.Alerts {
			if i > 0 {
				got += ", "
			}
			got += fmt.Sprintf("%s=%s %s", a.Fingerprint, a.Labels.Get("v"), a.Status)
		}
		if changed != step.changed || got != step.want {
			t.Errorf("changed %v, alerts %s; want %v, %s", changed, got, step.changed, step.want)
		}
	}
}

// BenchmarkUpsertAlert adds an alert to an incident that holds n: the cost
// does not grow with n.
//
//	go test -run '^$' -bench BenchmarkUpsertAlert ./remediator/
func BenchmarkUpsertAlert(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			in := newIncident("inc-1", "web", policy{}, time.Unix(0, 0))
			for i := range n {
				in.upsertAlert(Alert{Fingerprint: fmt.Sprintf("%016x", i), Status: "firing"})
			}
			a := Alert{Fingerprint: fmt.Sprintf("%016x", n/2), Status: "firing"}
			for i := 0; b.Loop(); i++ {
				a.StartsAt = time.Unix(int64(i), 0) // a change: replaced where it stands
				in.upsertAlert(a)
			}
		})
	}
}
