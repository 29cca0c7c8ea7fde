package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

const (
	probeTimeout = 10 * time.Second
	// maxProbeBody bounds what a probe reads of an answer.
	maxProbeBody = 16 << 10
	// DefaultLogTail is container_logs' tail when the call gives none.
	DefaultLogTail = 100
)

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// probe answers a read-only call.
func (c *Chain) probe(ctx context.Context, call Call, v Verdict) Result {
	text, err := c.probeText(ctx, call, v)
	if err != nil {
		return Result{Result: session.ResultFailed, Stage: session.StageExecute, Text: fmt.Sprintf("%s failed: %v", call.Kind, err)}
	}
	return Result{Result: session.ResultDone, Stage: session.StageExecute, Text: text}
}

func (c *Chain) probeText(ctx context.Context, call Call, v Verdict) (string, error) {
	switch call.Kind {
	case session.ProbeContainerStatus:
		return c.containerStatus(ctx, v.Service)
	case session.ProbeContainerLogs:
		return c.containerLogs(ctx, v.Service, call.Tail)
	case session.ProbeUnitStatus:
		res, err := c.cfg.Commands.Run(ctx, []string{"systemctl", "status", "--no-pager", "--lines=20", v.Service.Unit}, unitTimeout)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("systemctl status %s (exit %d):\n%s", v.Service.Unit, res.ExitCode, res.Output), nil
	case session.ProbeDeclaredCheck:
		res, err := c.cfg.Commands.Run(ctx, v.Check.Argv, time.Duration(v.Check.Timeout))
		if err != nil {
			return "", err
		}
		status := "passed"
		if res.ExitCode != 0 {
			status = fmt.Sprintf("FAILED (exit %d)", res.ExitCode)
		}
		return fmt.Sprintf("check %s of %s %s in %s:\n%s", v.Check.Name, v.Service.Name, status, res.Duration.Round(time.Millisecond), res.Output), nil
	case session.ProbeHTTP:
		return c.httpProbe(ctx, call.Target, call.Method)
	case session.ProbePrometheus:
		u := strings.TrimRight(c.cfg.PrometheusURL, "/") + "/api/v1/query?query=" + url.QueryEscape(call.Target)
		return c.get(ctx, http.MethodGet, u)
	}
	return "", fmt.Errorf("unknown probe %s", call.Kind)
}

// containerStatus is what the engine says of each container of the service.
func (c *Chain) containerStatus(ctx context.Context, svc *services.Service) (string, error) {
	if c.cfg.Engine == nil {
		return "", errNoEngine
	}
	type status struct {
		Name         string    `json:"name"`
		ID           string    `json:"id"`
		Image        string    `json:"image"`
		State        string    `json:"state"`
		Health       string    `json:"health,omitempty"`
		StartedAt    time.Time `json:"started_at"`
		RestartCount int       `json:"restart_count"`
	}
	var out []status
	for _, ct := range svc.Containers {
		got, err := c.cfg.Engine.Inspect(ctx, ct.ID)
		if err != nil {
			return "", err
		}
		out = append(out, status{Name: got.Name, ID: shortID(got.ID), Image: got.Image, State: got.State,
			Health: got.Health, StartedAt: got.StartedAt.UTC(), RestartCount: got.RestartCount})
	}
	b, err := json.MarshalIndent(map[string]any{"service": svc.Name, "containers": out}, "", "  ")
	return string(b), err
}

func (c *Chain) containerLogs(ctx context.Context, svc *services.Service, tail int) (string, error) {
	if c.cfg.Engine == nil {
		return "", errNoEngine
	}
	if tail <= 0 {
		tail = DefaultLogTail
	}
	var b strings.Builder
	for _, ct := range svc.Containers {
		logs, err := c.cfg.Engine.Logs(ctx, ct.ID, tail)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "== %s (last %d lines) ==\n%s\n", ct.Name, tail, logs)
	}
	return b.String(), nil
}

// httpTarget: an http_probe may only reach a host of the inventory.
func httpTarget(cat *services.Catalog, raw string) string {
	if _, err := cat.URL(raw); err != nil {
		return err.Error()
	}
	return ""
}

func (c *Chain) httpProbe(ctx context.Context, target, method string) (string, error) {
	switch method = strings.ToUpper(method); method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodHead:
	default:
		return "", fmt.Errorf("method %s: only GET and HEAD", method)
	}
	return c.get(ctx, method, target)
}

// get makes one bounded request and describes the answer.
func (c *Chain) get(ctx context.Context, method, u string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return "", err
	}
	start := time.Now()
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s → %s in %s\n%s", method, u, resp.Status, time.Since(start).Round(time.Millisecond), body), nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
