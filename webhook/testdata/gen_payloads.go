//go:build ignore

// gen_payloads writes the Alertmanager payload samples of this directory with
// Alertmanager's own template code, as its notify/webhook package does:
//
//	go run ./webhook/testdata/gen_payloads.go
//
// am-0.34.json is what v0.34 sends. am-0.25.json is the same notification as
// v0.25 sent it: its template.Data had no notification_reason and no
// routeLabels.
package main

import (
	"encoding/json"
	"log"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
)

type message struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// data025 is template.Data of Alertmanager v0.25.
type data025 struct {
	Receiver          string          `json:"receiver"`
	Status            string          `json:"status"`
	Alerts            template.Alerts `json:"alerts"`
	GroupLabels       template.KV     `json:"groupLabels"`
	CommonLabels      template.KV     `json:"commonLabels"`
	CommonAnnotations template.KV     `json:"commonAnnotations"`
	ExternalURL       string          `json:"externalURL"`
}

type message025 struct {
	*data025
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func write(name string, v any) {
	f, err := os.Create(name)
	must(err)
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	must(enc.Encode(v))
	must(f.Close())
}

func main() {
	tmpl, err := template.FromGlobs(nil)
	must(err)
	tmpl.ExternalURL, err = url.Parse("http://alertmanager.example.org:9093")
	must(err)
	start := time.Date(2025, 6, 3, 9, 14, 27, 123456789, time.UTC)
	alerts := []*types.Alert{
		{Alert: model.Alert{
			Labels: model.LabelSet{
				"alertname": "ServiceDown", "service": "nextcloud", "instance": "https://cloud.example.org",
				"job": "blackbox", "severity": "critical",
			},
			Annotations: model.LabelSet{
				"summary":     "nextcloud is down",
				"description": "Probe of https://cloud.example.org failed for 5 minutes.\nLast status: 502.",
				"runbook_url": "https://runbooks.example.org/ServiceDown",
			},
			StartsAt:     start,
			EndsAt:       time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
			GeneratorURL: "http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1",
		}},
		{Alert: model.Alert{
			Labels: model.LabelSet{
				"alertname": "ContainerRestarting", "container": "postgres", "job": "cadvisor",
				"instance": "docker-host:8080", "severity": "critical",
			},
			Annotations: model.LabelSet{
				"summary":     "postgres restarted 4 times in 15 minutes",
				"description": "Container postgres on docker-host keeps restarting.",
			},
			StartsAt:     start.Add(-time.Hour),
			EndsAt:       start.Add(-10 * time.Minute),
			GeneratorURL: "http://prometheus.example.org:9090/graph?g0.expr=increase%28container_restarts_total%5B15m%5D%29+%3E+3&g0.tab=1",
		}},
		{Alert: model.Alert{
			Labels: model.LabelSet{
				"alertname": "ClaudeOpsNeedsHumanAttention", "claudeops": "true", "service": "nextcloud",
				"severity": "critical",
			},
			Annotations: model.LabelSet{"summary": "Claude Ops could not fix nextcloud"},
			StartsAt:    start.Add(30 * time.Second),
			EndsAt:      time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		}},
	}
	groupLabels := model.LabelSet{"severity": "critical"}
	routeLabels := model.LabelSet{"team": "platform"}
	data := tmpl.Data("claude-ops", groupLabels, routeLabels, "new alerts added", alerts...)
	groupKey := `{}/{severity="critical"}:{severity="critical"}`
	write("am-0.34.json", message{Data: data, Version: "4", GroupKey: groupKey})
	write("am-0.25.json", message025{data025: &data025{
		Receiver: data.Receiver, Status: data.Status, Alerts: data.Alerts, GroupLabels: data.GroupLabels,
		CommonLabels: data.CommonLabels, CommonAnnotations: data.CommonAnnotations, ExternalURL: data.ExternalURL,
	}, Version: "4", GroupKey: groupKey})
}
