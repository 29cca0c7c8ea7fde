package remediator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	runtimeclient "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	amalert "github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/general"
	"github.com/prometheus/alertmanager/api/v2/models"
	commoncfg "github.com/prometheus/common/config"
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

// AlertmanagerClient is a client of Alertmanager's API v2, through
// Alertmanager's own generated client: it pushes alerts, asks which alerts
// are still active, and reads the running configuration.
type AlertmanagerClient struct {
	api *amclient.AlertmanagerAPI
}

// alertmanagerTimeout bounds each request of a client built here.
const alertmanagerTimeout = 10 * time.Second

// NewAlertmanagerClient returns a client of the Alertmanager at rawURL (its
// path prefix, if any, is kept). hc nil means the client of an empty
// HTTPClientConfig (proxies from the environment) with a 10s timeout.
func NewAlertmanagerClient(rawURL string, hc *http.Client) (*AlertmanagerClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("alertmanager url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("alertmanager url %q: want http(s)://host[:port][/prefix]", u.Redacted())
	}
	if hc == nil {
		if hc, err = alertmanagerHTTPClient(commoncfg.HTTPClientConfig{}); err != nil {
			return nil, err
		}
	}
	kept := *hc
	kept.Transport = errorBodyKeeper{next: hc.Transport}
	rt := runtimeclient.NewWithClient(u.Host, path.Join("/", u.Path, amclient.DefaultBasePath), []string{u.Scheme}, &kept)
	// Alertmanager answers JSON; a body labelled text/plain (a proxy, a
	// test double) is read as JSON too, unless a string is expected.
	rt.Consumers[runtime.TextMime] = runtime.ConsumerFunc(func(r io.Reader, v any) error {
		if _, ok := v.(*string); ok {
			return runtime.TextConsumer().Consume(r, v)
		}
		return runtime.JSONConsumer().Consume(r, v)
	})
	if u.User != nil { // http://user:pass@host, as Go's client would
		pass, _ := u.User.Password()
		rt.DefaultAuthentication = runtimeclient.BasicAuth(u.User.Username(), pass)
	}
	return &AlertmanagerClient{api: amclient.New(rt, strfmt.Default)}, nil
}

// NewAlertmanagerClientFromFile is NewAlertmanagerClient with the HTTP
// client of an HTTPClientConfig YAML file (prometheus/common/config: basic
// auth, authorization, OAuth 2, TLS, proxy; relative paths are relative to
// the file), the --alertmanager.http-config-file flag. file "" means the
// default client.
func NewAlertmanagerClientFromFile(rawURL, file string) (*AlertmanagerClient, error) {
	if file == "" {
		return NewAlertmanagerClient(rawURL, nil)
	}
	cfg, _, err := commoncfg.LoadHTTPConfigFile(file)
	if err != nil {
		return nil, fmt.Errorf("alertmanager http config %s: %w", file, err)
	}
	hc, err := alertmanagerHTTPClient(*cfg)
	if err != nil {
		return nil, fmt.Errorf("alertmanager http config %s: %w", file, err)
	}
	return NewAlertmanagerClient(rawURL, hc)
}

// alertmanagerHTTPClient is cfg's client with a timeout. A config that
// sets no proxy takes the proxies of the environment, as Go's default
// client does.
func alertmanagerHTTPClient(cfg commoncfg.HTTPClientConfig) (*http.Client, error) {
	if cfg.ProxyURL.URL == nil && !cfg.ProxyFromEnvironment {
		cfg.ProxyFromEnvironment = true
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := commoncfg.NewClientFromConfig(cfg, "alertmanager")
	if err != nil {
		return nil, err
	}
	hc.Timeout = alertmanagerTimeout
	return hc, nil
}

// Push posts alerts to Alertmanager.
func (c *AlertmanagerClient) Push(ctx context.Context, alerts []PostableAlert) error {
	if len(alerts) == 0 {
		return nil
	}
	body := make(models.PostableAlerts, 0, len(alerts))
	for _, a := range alerts {
		pa := &models.PostableAlert{
			Alert:       models.Alert{Labels: models.LabelSet(a.Labels), GeneratorURL: strfmt.URI(a.GeneratorURL)},
			Annotations: models.LabelSet(a.Annotations),
		}
		if !a.StartsAt.IsZero() {
			pa.StartsAt = strfmt.DateTime(a.StartsAt)
		}
		if !a.EndsAt.IsZero() {
			pa.EndsAt = strfmt.DateTime(a.EndsAt)
		}
		body = append(body, pa)
	}
	params := amalert.NewPostAlertsParamsWithContext(ctx).WithTimeout(alertmanagerTimeout).WithAlerts(body)
	if _, err := c.api.Alert.PostAlerts(params); err != nil {
		return fmt.Errorf("alertmanager push: %w", amError(err))
	}
	return nil
}

// Active reports which of the fingerprints Alertmanager still lists as active,
// not silenced and not inhibited. Fingerprints it does not list are absent
// from the map.
func (c *AlertmanagerClient) Active(ctx context.Context, fingerprints []string) (map[string]bool, error) {
	yes, no := true, false
	params := amalert.NewGetAlertsParamsWithContext(ctx).WithTimeout(alertmanagerTimeout).
		WithActive(&yes).WithSilenced(&no).WithInhibited(&no)
	resp, err := c.api.Alert.GetAlerts(params)
	if err != nil {
		return nil, fmt.Errorf("alertmanager alerts: %w", amError(err))
	}
	want := make(map[string]bool, len(fingerprints))
	for _, fp := range fingerprints {
		want[fp] = true
	}
	active := map[string]bool{}
	for _, a := range resp.Payload {
		if a != nil && a.Fingerprint != nil && want[*a.Fingerprint] {
			active[*a.Fingerprint] = true
		}
	}
	return active, nil
}

// Config returns the configuration Alertmanager runs (GET /api/v2/status,
// config.original: its YAML, secrets shown as <secret>).
func (c *AlertmanagerClient) Config(ctx context.Context) (string, error) {
	resp, err := c.api.General.GetStatus(general.NewGetStatusParamsWithContext(ctx).WithTimeout(alertmanagerTimeout))
	if err != nil {
		return "", fmt.Errorf("alertmanager status: %w", amError(err))
	}
	if resp.Payload == nil || resp.Payload.Config == nil || resp.Payload.Config.Original == nil {
		return "", errors.New("alertmanager status: no config in the answer")
	}
	return *resp.Payload.Config.Original, nil
}

// errorBodyKeeper reads the body of an error answer into memory, so that
// amError can still quote it once the generated client closed it.
type errorBodyKeeper struct{ next http.RoundTripper }

func (k errorBodyKeeper) RoundTrip(req *http.Request) (*http.Response, error) {
	next := k.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 {
		return resp, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// amError keeps the status and the start of the body of an answer the
// generated client has no type for (a proxy's 502, a 404 under a wrong
// prefix): its own error says neither.
func amError(err error) error {
	var ae *runtime.APIError
	if !errors.As(err, &ae) {
		return err
	}
	msg := ""
	if r, ok := ae.Response.(runtime.ClientResponse); ok {
		if body := r.Body(); body != nil {
			b, _ := io.ReadAll(io.LimitReader(body, 512))
			msg = strings.TrimSpace(string(b))
		}
	}
	return fmt.Errorf("%s: status %d: %s", ae.OperationName, ae.Code, msg)
}
