package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// unitTimeout bounds a systemctl call.
const unitTimeout = 90 * time.Second

var errNoEngine = errors.New("no container engine is configured")

// execute runs an allowed change and verifies its effect.
func (c *Chain) execute(ctx context.Context, call Call, v Verdict) Result {
	svc := v.Service
	var (
		text string
		err  error
		ver  error
	)
	switch call.Kind {
	case session.ActionRestart:
		if len(svc.Containers) > 0 {
			text, err, ver = c.restartContainers(ctx, svc)
		} else {
			text, err, ver = c.restartUnit(ctx, svc.Unit)
		}
	case session.ActionRedeploy:
		if svc.Redeploy != nil {
			text, err, ver = c.runDeclared(ctx, "redeploy of "+svc.Name, *svc.Redeploy, nil)
			if err == nil && ver == nil && len(svc.Containers) > 0 {
				ver = c.running(ctx, svc)
			}
		} else {
			text, err, ver = c.recreateContainers(ctx, svc)
		}
	case session.ActionPlaybook:
		text, err, ver = c.runDeclared(ctx, "playbook "+v.Playbook.Name, v.Playbook.Command, v.Playbook.Verify)
	default:
		err = fmt.Errorf("not a change: %s", call.Kind)
	}
	switch {
	case err != nil:
		return Result{Result: session.ResultFailed, Stage: session.StageExecute, Text: fmt.Sprintf("%s of %s failed: %v", call.Kind, svc.Name, err)}
	case ver != nil:
		return Result{Result: session.ResultUnverified, Stage: session.StageVerify, Text: fmt.Sprintf("%s of %s ran, but it is not verified: %v. %s", call.Kind, svc.Name, ver, text)}
	}
	return Result{Result: session.ResultDone, Stage: session.StageVerify, Text: text}
}

// restartContainers restarts every container of the service and verifies
// each restart by its start time: State.StartedAt must move and the
// container run.
func (c *Chain) restartContainers(ctx context.Context, svc *services.Service) (string, error, error) {
	if c.cfg.Engine == nil {
		return "", errNoEngine, nil
	}
	var done []string
	for _, ct := range svc.Containers {
		before, err := c.cfg.Engine.Inspect(ctx, ct.ID)
		if err != nil {
			return "", err, nil
		}
		if err := c.cfg.Engine.Restart(ctx, ct.ID, c.cfg.RestartTimeout); err != nil {
			return "", err, nil
		}
		after, err := c.cfg.Engine.Inspect(ctx, ct.ID)
		if err != nil {
			return "", nil, err
		}
		if !after.StartedAt.After(before.StartedAt) || after.State != "running" {
			return "", nil, fmt.Errorf("container %s: state %s, started at %s (before the restart: %s)",
				ct.Name, after.State, after.StartedAt.Format(time.RFC3339Nano), before.StartedAt.Format(time.RFC3339Nano))
		}
		done = append(done, fmt.Sprintf("%s (started at %s, was %s)", ct.Name,
			after.StartedAt.UTC().Format(time.RFC3339), before.StartedAt.UTC().Format(time.RFC3339)))
	}
	return fmt.Sprintf("restarted %s, verified by the engine: %s", svc.Name, strings.Join(done, "; ")), nil, nil
}

// recreateContainers recreates every container of the service from its own
// configuration and verifies the new one runs.
func (c *Chain) recreateContainers(ctx context.Context, svc *services.Service) (string, error, error) {
	if c.cfg.Engine == nil {
		return "", errNoEngine, nil
	}
	var done []string
	for _, ct := range svc.Containers {
		newID, err := c.cfg.Engine.Recreate(ctx, ct.ID)
		if err != nil {
			return "", err, nil
		}
		after, err := c.cfg.Engine.Inspect(ctx, newID)
		if err != nil {
			return "", nil, err
		}
		if after.State != "running" || newID == ct.ID {
			return "", nil, fmt.Errorf("container %s: state %s after recreation", ct.Name, after.State)
		}
		done = append(done, fmt.Sprintf("%s (now %.12s, running)", ct.Name, newID))
	}
	return fmt.Sprintf("redeployed %s, verified by the engine: %s", svc.Name, strings.Join(done, "; ")), nil, nil
}

// running verifies that every container of the service runs (after a
// declared redeploy).
func (c *Chain) running(ctx context.Context, svc *services.Service) error {
	if c.cfg.Engine == nil {
		return nil
	}
	for _, ct := range svc.Containers {
		got, err := c.cfg.Engine.Inspect(ctx, ct.Name)
		if err != nil {
			return err
		}
		if got.State != "running" {
			return fmt.Errorf("container %s is %s", ct.Name, got.State)
		}
	}
	return nil
}

func (c *Chain) restartUnit(ctx context.Context, unit string) (string, error, error) {
	res, err := c.cfg.Commands.Run(ctx, []string{"systemctl", "restart", unit}, unitTimeout)
	if err != nil {
		return "", err, nil
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("systemctl restart %s: exit %d: %s", unit, res.ExitCode, lastLine(res.Output)), nil
	}
	res, err = c.cfg.Commands.Run(ctx, []string{"systemctl", "is-active", unit}, unitTimeout)
	if err != nil {
		return "", nil, err
	}
	if res.ExitCode != 0 {
		return "", nil, fmt.Errorf("unit %s is %s", unit, strings.TrimSpace(res.Output))
	}
	return fmt.Sprintf("restarted unit %s; systemctl says it is active", unit), nil, nil
}

// runDeclared runs a command the repo owner declared, then its
// verification when one is declared.
func (c *Chain) runDeclared(ctx context.Context, name string, cmd repos.Command, verify *repos.Command) (string, error, error) {
	res, err := c.cfg.Commands.Run(ctx, cmd.Argv, time.Duration(cmd.Timeout))
	if err != nil {
		return "", err, nil
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("%s exited %d: %s", cmd.Argv[0], res.ExitCode, lastLine(res.Output)), nil
	}
	text := fmt.Sprintf("%s ran (exit 0, %s)", name, res.Duration.Round(time.Millisecond))
	if verify == nil {
		return text + "; no verification declared", nil, nil
	}
	vres, err := c.cfg.Commands.Run(ctx, verify.Argv, time.Duration(verify.Timeout))
	if err != nil {
		return text, nil, err
	}
	if vres.ExitCode != 0 {
		return text, nil, fmt.Errorf("verification exited %d: %s", vres.ExitCode, lastLine(vres.Output))
	}
	return text + "; its verification passed", nil, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return truncate(s, 300)
}
