// Package stormload replays an Alertmanager notification storm against a
// webhook receiver and measures it: requests per second, latency
// percentiles, status codes, and the target's CPU time and memory when its
// pid is known. cmd/stormload drives it against a URL; the side-by-side run
// against prometheus-am-executor is e2e's BenchmarkWebhookStorm (processes
// are started only in runner/ and in tests).
package stormload

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// Storm describes the notifications of a storm.
type Storm struct {
	// Alerts firing alerts, spread evenly over Services services.
	Alerts, Services int
	// PerRequest is the most alerts of one notification; a notification
	// groups alerts of one service, as Alertmanager's group_by
	// [alertname, service] would when one rule fires everywhere.
	PerRequest int
	// ResolvedShare of the firing notifications get a resolved twin (the
	// same alerts, status resolved), sent right before or right after it,
	// so that the two race through the receiver.
	ResolvedShare float64
	// Seed makes the storm reproducible.
	Seed uint64
	// Labels are added to every alert (and change its fingerprint).
	Labels map[string]string
}

// Notification is one request of a storm.
type Notification struct {
	Body     []byte
	Alerts   int
	Resolved bool
	// Service the alerts are about; Fingerprints of the alerts.
	Service      string
	Fingerprints []string
}

// message is Alertmanager's webhook payload: notify/webhook.Message, whose
// package would bring Alertmanager's notifiers into the build.
type message struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

var alertnames = []string{"InstanceDown", "HighErrorRate", "HighLatency", "TargetMissing"}

// Build returns the notifications of round r of the storm, in the order to
// send them. Each round's alerts start an hour after the previous round's,
// so a receiver that deduplicates on fingerprint and startsAt takes every
// round for new alerts.
func (s Storm) Build(round int) []Notification {
	if s.Services <= 0 {
		s.Services = 1
	}
	if s.PerRequest <= 0 {
		s.PerRequest = 1
	}
	rng := rand.New(rand.NewPCG(s.Seed, uint64(round)))
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(round) * time.Hour)
	// Alert i concerns service i % Services.
	bySvc := make([][]template.Alert, s.Services)
	for i := range s.Alerts {
		svc := i % s.Services
		name := alertnames[(i/s.Services)%len(alertnames)]
		labels := map[string]string{
			"alertname": name,
			"service":   fmt.Sprintf("svc-%d", svc),
			"instance":  fmt.Sprintf("10.0.%d.%d:9100", (i/250)%256, i%250),
			"job":       "node",
			"severity":  "critical",
		}
		for k, v := range s.Labels {
			labels[k] = v
		}
		ls := make(model.LabelSet, len(labels))
		for k, v := range labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		bySvc[svc] = append(bySvc[svc], template.Alert{
			Status: "firing",
			Labels: labels,
			Annotations: map[string]string{
				"summary":     fmt.Sprintf("%s on %s", name, labels["instance"]),
				"description": fmt.Sprintf("%s of service %s has been failing for more than 5 minutes.", labels["instance"], labels["service"]),
				"runbook_url": "https://runbooks.example.org/" + name,
			},
			StartsAt:     base.Add(time.Duration(i) * time.Millisecond),
			GeneratorURL: "http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
			Fingerprint:  ls.Fingerprint().String(),
		})
	}
	// Notifications of at most PerRequest alerts of one service, the
	// services interleaved: every service is hit from the start.
	var groups [][][]template.Alert
	for _, as := range bySvc {
		var g [][]template.Alert
		for len(as) > 0 {
			n := min(len(as), s.PerRequest)
			g = append(g, as[:n])
			as = as[n:]
		}
		groups = append(groups, g)
	}
	var out []Notification
	for k := 0; ; k++ {
		any := false
		for _, g := range groups {
			if k >= len(g) {
				continue
			}
			any = true
			firing := notification(g[k], false)
			if rng.Float64() >= s.ResolvedShare {
				out = append(out, firing)
				continue
			}
			resolved := notification(g[k], true)
			if rng.IntN(2) == 0 {
				out = append(out, firing, resolved)
			} else {
				out = append(out, resolved, firing)
			}
		}
		if !any {
			break
		}
	}
	return out
}

func notification(as []template.Alert, resolved bool) Notification {
	as = slices.Clone(as)
	status := "firing"
	if resolved {
		status = "resolved"
		for i := range as {
			as[i].Status = "resolved"
			as[i].EndsAt = as[i].StartsAt.Add(90 * time.Second)
		}
	}
	svc := as[0].Labels["service"]
	name := as[0].Labels["alertname"]
	m := message{
		Data: &template.Data{
			Receiver: "claude-ops", Status: status, Alerts: as,
			GroupLabels:       template.KV{"alertname": name, "service": svc},
			CommonLabels:      template.KV{"alertname": name, "service": svc, "job": "node", "severity": "critical"},
			CommonAnnotations: template.KV{"runbook_url": "https://runbooks.example.org/" + name},
			ExternalURL:       "http://alertmanager.example.org:9093",
		},
		Version:  "4",
		GroupKey: fmt.Sprintf(`{}/{severity="critical"}:{alertname=%q, service=%q}`, name, svc),
	}
	body, err := json.Marshal(m)
	if err != nil {
		panic(err) // maps of strings and times always encode
	}
	fps := make([]string, len(as))
	for i, a := range as {
		fps[i] = a.Fingerprint
	}
	return Notification{Body: body, Alerts: len(as), Resolved: resolved, Service: svc, Fingerprints: fps}
}

// Describe is a one-line summary of a round's notifications.
func Describe(ns []Notification) string {
	var alerts, resolved, bytes int
	for _, n := range ns {
		alerts += n.Alerts
		bytes += len(n.Body)
		if n.Resolved {
			resolved++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d notifications (%d resolved), %d alerts, %.0f bytes per body on average",
		len(ns), resolved, alerts, float64(bytes)/float64(max(len(ns), 1)))
	return b.String()
}
