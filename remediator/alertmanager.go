package remediator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PostableAlert is an alert as Alertmanager's API v2 accepts it
// (POST /api/v2/alerts).
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// AlertmanagerClient is a small client of Alertmanager's API v2: it pushes
// alerts and asks which alerts are still active.
type AlertmanagerClient struct {
	base *url.URL
	hc   *http.Client
}

// NewAlertmanagerClient returns a client of the Alertmanager at rawURL (its
// path prefix, if any, is kept). hc nil means a client with a 10s timeout.
func NewAlertmanagerClient(rawURL string, hc *http.Client) (*AlertmanagerClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("alertmanager url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("alertmanager url %q: want http(s)://host[:port][/prefix]", rawURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &AlertmanagerClient{base: u, hc: hc}, nil
}

func (c *AlertmanagerClient) endpoint(q url.Values) string {
	u := c.base.JoinPath("api", "v2", "alerts")
	u.RawQuery = q.Encode()
	return u.String()
}

// Push posts alerts to Alertmanager.
func (c *AlertmanagerClient) Push(ctx context.Context, alerts []PostableAlert) error {
	if len(alerts) == 0 {
		return nil
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(nil), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("alertmanager push: %w", err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return fmt.Errorf("alertmanager push: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

// gettableAlert is the part of API v2's GettableAlert we read.
type gettableAlert struct {
	Fingerprint string `json:"fingerprint"`
}

// maxAlertsBody bounds what Active reads from Alertmanager.
const maxAlertsBody = 64 << 20

// Active reports which of the fingerprints Alertmanager still lists as active,
// not silenced and not inhibited. Fingerprints it does not list are absent
// from the map.
func (c *AlertmanagerClient) Active(ctx context.Context, fingerprints []string) (map[string]bool, error) {
	q := url.Values{"active": {"true"}, "silenced": {"false"}, "inhibited": {"false"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint(q), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alertmanager alerts: %w", err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return nil, fmt.Errorf("alertmanager alerts: %w", err)
	}
	var got []gettableAlert
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAlertsBody)).Decode(&got); err != nil {
		return nil, fmt.Errorf("alertmanager alerts: decode: %w", err)
	}
	want := make(map[string]bool, len(fingerprints))
	for _, fp := range fingerprints {
		want[fp] = true
	}
	active := map[string]bool{}
	for _, a := range got {
		if want[a.Fingerprint] {
			active[a.Fingerprint] = true
		}
	}
	return active, nil
}

func checkStatus(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
}
