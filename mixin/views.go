package mixin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// InfinityType is the plugin id of the Infinity data source, through which
// the activity dashboard (sessions_dashboard.libsonnet) reads the daemon's
// JSON views.
const InfinityType = "yesoreyeram-infinity-datasource"

// ViewQuery is one Infinity query of a dashboard: the daemon's URL it reads
// and the columns it selects from each row.
type ViewQuery struct {
	Dashboard, Panel string
	// URL is the query's URL as written, Grafana variables in; the data
	// source's base URL (the daemon) goes before it.
	URL string
	// Columns are the JSON keys the panel's columns select.
	Columns []string
}

// viewDashboard is the part of a dashboard ViewQueries reads.
type viewDashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title      string      `json:"title"`
		Datasource *Datasource `json:"datasource"`
		Targets    []struct {
			Datasource *Datasource `json:"datasource"`
			Type       string      `json:"type"`
			Source     string      `json:"source"`
			URL        string      `json:"url"`
			Columns    []struct {
				Selector string `json:"selector"`
				Text     string `json:"text"`
				Type     string `json:"type"`
			} `json:"columns"`
		} `json:"targets"`
	} `json:"panels"`
}

// ViewQueries returns every Infinity query of the dashboards in dir
// (grafana/dashboards), by dashboard file name, then panel.
func ViewQueries(dir string) ([]ViewQuery, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []ViewQuery
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d viewDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				if t.Datasource == nil || t.Datasource.Type != InfinityType {
					continue
				}
				q := ViewQuery{Dashboard: d.UID, Panel: p.Title, URL: t.URL}
				for _, c := range t.Columns {
					q.Columns = append(q.Columns, c.Selector)
				}
				out = append(out, q)
			}
		}
	}
	return out, nil
}

// FillURL replaces the Grafana variables of a view URL with vars (by name,
// without the $); a variable vars lacks becomes empty, which the views read
// as no filter.
func FillURL(u string, vars map[string]string) string {
	return VariableRE.ReplaceAllStringFunc(u, func(m string) string {
		sm := VariableRE.FindStringSubmatch(m)
		return vars[sm[1]+sm[2]+sm[3]]
	})
}
