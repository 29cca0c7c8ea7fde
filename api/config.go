package api

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// ConfigRow is one effective flag: a row of the config view.
type ConfigRow struct {
	Flag    string `json:"flag"`
	Value   string `json:"value"`
	Default string `json:"default"`
	Env     string `json:"env"`
	Help    string `json:"help"`
}

// Secret is what a secret's value is shown as.
const Secret = "<secret>"

// secretFlag matches the names of flags whose value is a secret itself (a
// file holding one, "-file", is not).
var secretFlag = regexp.MustCompile(`(?i)(^|[.-])(key|token|secret|password|passwd|credentials?)($|[.-])`)

// notShown are kingpin's own flags.
var notShown = map[string]bool{"help": true, "help-long": true, "help-man": true, "version": true,
	"completion-bash": true, "completion-script-bash": true, "completion-script-zsh": true}

// ConfigRows lists the application's flags with their effective values,
// from kingpin's model: secrets shown as <secret>, and URLs with their
// passwords redacted (url.URL.Redacted), in values and defaults alike.
func ConfigRows(m *kingpin.ApplicationModel) []ConfigRow {
	if m == nil {
		return []ConfigRow{}
	}
	out := []ConfigRow{}
	for _, f := range m.Flags {
		if f.Hidden || notShown[f.Name] {
			continue
		}
		r := ConfigRow{Flag: f.Name, Value: f.String(), Default: strings.Join(f.Default, ","), Env: f.Envar, Help: f.Help}
		if secretFlag.MatchString(f.Name) && !strings.HasSuffix(f.Name, "-file") {
			if r.Value != "" {
				r.Value = Secret
			}
			if r.Default != "" {
				r.Default = Secret
			}
		}
		r.Value, r.Default = redactURLs(r.Value), redactURLs(r.Default)
		out = append(out, r)
	}
	return out
}

// ConfigMap is rows as flag → value, for /api/v1/status.
func ConfigMap(rows []ConfigRow) map[string]string {
	m := make(map[string]string, len(rows))
	for _, r := range rows {
		m[r.Flag] = r.Value
	}
	return m
}

// redactURLs redacts the password of every URL in a comma-separated value.
func redactURLs(v string) string {
	if !strings.Contains(v, "@") {
		return v
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = RedactURL(p)
	}
	return strings.Join(parts, ",")
}

// RedactURL is s with the password of its user info replaced, when s is a
// URL that has one; anything else is returned as it is.
func RedactURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.User == nil || u.Scheme == "" {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		// A user name alone may be a token (https://TOKEN@host).
		u.User = url.User("xxxxx")
		return u.String()
	}
	return u.Redacted()
}
