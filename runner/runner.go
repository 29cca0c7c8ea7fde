// Package runner runs one Claude Code session: one `claude -p` process with
// the tier's tools and rules, a minimal environment and a wall-clock limit.
// It streams the CLI's output, redacted, to a JSONL transcript and turns it
// into a session.Record. It is the only package that starts processes.
package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/claude-ops/claude-ops/session"
)

const (
	defaultGrace = 5 * time.Second
	// drainLimit is how long the readers may take to reach EOF once the
	// process group is dead; after it our read ends are closed.
	drainLimit = 2 * time.Second
	// reapLimit is how long Run waits for a killed group to disappear.
	reapLimit = 2 * time.Second
)

// Config is fixed for the Runner's lifetime.
type Config struct {
	// ClaudePath is the CLI: a path, or a name looked up in PATH.
	ClaudePath string
	// ResultsDir receives <id>.jsonl transcripts; empty means none.
	ResultsDir string
	APIKey     string
	// BaseURL is ANTHROPIC_BASE_URL (a proxy, or a fake in tests).
	BaseURL string
	// Secrets are more values to redact (APIKey always is): the webhook
	// token, BROWSER_CRED_* values (see RedactSecretsFromEnv).
	Secrets []string
	// Timeout is the wall-clock limit of a session (0: none); Grace is the
	// time between SIGTERM and SIGKILL.
	Timeout, Grace time.Duration
	// ExtraEnv is added to every session's environment last (test knobs such
	// as CLAUDE_CODE_MAX_RETRIES).
	ExtraEnv map[string]string
	// Sandbox confines every session (see Sandbox); nil runs sessions
	// unsandboxed, with a warning each.
	Sandbox *Sandbox
	Logger  *slog.Logger
}

// Runner starts sessions; it is safe for concurrent use.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	path string // daemon's PATH
	home string // daemon's HOME
}

// New returns a Runner. PATH and HOME, the only variables of the daemon's
// environment a session inherits, are read here.
func New(cfg Config) *Runner {
	if cfg.Grace <= 0 {
		cfg.Grace = defaultGrace
	}
	if cfg.ClaudePath == "" {
		cfg.ClaudePath = "claude"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log, path: os.Getenv("PATH"), home: os.Getenv("HOME")}
}

// Run runs one session and blocks until it has ended and its processes are
// gone. It never fails: every failure is an outcome in the record.
func (r *Runner) Run(ctx context.Context, req session.Request) (rec session.Record) {
	start := time.Now()
	rec = session.Record{
		ID: req.ID, Tier: req.Tier, Model: req.Model, Trigger: req.Trigger,
		IncidentID: req.IncidentID, Start: start, Outcome: session.OutcomeRunning,
	}
	if rec.ID == "" {
		rec.ID = session.NewID(start)
	}
	log := r.log.With("session", rec.ID, "tier", int(req.Tier), "model", req.Model, "trigger", req.Trigger)
	if req.IncidentID != "" {
		log = log.With("incident", req.IncidentID)
	}
	red := newRedactor(append([]string{r.cfg.APIKey}, r.cfg.Secrets...)...)

	tr, closeTranscript := r.openTranscript(&rec, red, log)
	defer func() {
		if p := recover(); p != nil {
			log.Error("session runner panicked", "panic", p)
			fail(&rec, subtypePanic, fmt.Sprint(p))
		}
		rec.End = time.Now()
		rec.Duration = rec.End.Sub(start)
		redactRecord(&rec, red)
		tr.event(endEvent{Type: "claudeops", Event: "end", Record: rec})
		closeTranscript()
		log.Info("session ended", "outcome", rec.Outcome, "error_subtype", rec.ErrorSubtype,
			"duration", rec.Duration, "turns", rec.Turns, "cost_usd", rec.CostUSD, "reason", rec.Reason)
	}()

	r.run(ctx, req, &rec, tr, red, log)
	return rec
}

func (r *Runner) run(ctx context.Context, req session.Request, rec *session.Record, tr *transcript, red *redactor, log *slog.Logger) {
	args, err := cliArgs(req)
	if err != nil {
		tr.event(startEvent{Type: "claudeops", Event: "start", ID: rec.ID, Tier: req.Tier, Model: req.Model, Trigger: req.Trigger})
		fail(rec, subtypeBadRequest, err.Error())
		return
	}
	path, lookErr := exec.LookPath(r.cfg.ClaudePath)

	scratch, err := os.MkdirTemp("", "claudeops-session-")
	if err != nil {
		fail(rec, subtypeSetup, "scratch dir: "+err.Error())
		return
	}
	defer func() {
		if err := os.RemoveAll(scratch); err != nil {
			log.Warn("remove scratch dir", "dir", scratch, "err", err)
		}
	}()
	configDir, tmpDir, dir := filepath.Join(scratch, "config"), filepath.Join(scratch, "tmp"), req.Dir
	if dir == "" {
		dir = filepath.Join(scratch, "work")
	}
	for _, d := range []string{configDir, tmpDir, dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			fail(rec, subtypeSetup, err.Error())
			return
		}
	}
	env := sessionEnv(r.cfg, r.path, r.home, req, configDir, tmpDir)

	ev := startEvent{Type: "claudeops", Event: "start", ID: rec.ID, Tier: req.Tier, Model: req.Model,
		Trigger: req.Trigger, IncidentID: req.IncidentID, CLI: r.cfg.ClaudePath, Dir: dir, Args: args}
	if lookErr != nil {
		tr.event(ev)
		fail(rec, subtypeCLIMissing, fmt.Sprintf("claude CLI not found at %s: %v", r.cfg.ClaudePath, lookErr))
		return
	}
	var sb *sandboxPlan
	if r.cfg.Sandbox == nil {
		log.Warn("session runs unsandboxed: its tools see the daemon's files, sockets and network")
	} else {
		var sbArgs []string
		sb, sbArgs, env, err = r.sandbox(ctx, req, path, env, dir, scratch, log)
		if err != nil {
			tr.event(ev)
			if context.Cause(ctx) != nil { // told to stop: the daemon may have closed its sockets already
				stopped(ctx, rec, false, 0)
				return
			}
			fail(rec, subtypeSandboxUnavailable, err.Error())
			log.Error("session not run: cannot sandbox it", "err", err)
			return
		}
		defer sb.close()
		args = sbArgs
		ev.Args, ev.Sandbox = args, sb.logged
	}
	if cause := context.Cause(ctx); cause != nil {
		tr.event(ev)
		stopped(ctx, rec, false, 0)
		return
	}
	var p *process
	if sb != nil {
		p, err = sb.start(scratch)
	} else {
		p, err = startProcess(path, args, env, dir)
	}
	if err != nil {
		tr.event(ev)
		if sb != nil {
			fail(rec, subtypeSandboxUnavailable, "start bwrap: "+err.Error())
		} else if errors.Is(err, os.ErrNotExist) {
			fail(rec, subtypeCLIMissing, fmt.Sprintf("claude CLI not found at %s: %v", path, err))
		} else {
			fail(rec, subtypeStart, "start claude CLI: "+err.Error())
		}
		return
	}
	ev.PID, ev.PGID = p.pgid, p.pgid
	tr.event(ev)
	log.Info("session started", "pid", p.pgid)

	var (
		wg         sync.WaitGroup
		res        *streamResult
		readErr    error
		lastStderr string
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		res, readErr = parseStream(p.stdout, toolLogger(log, red, tr.stdoutLine))
	}()
	go func() {
		defer wg.Done()
		lastStderr = readStderr(p.stderr, tr, red)
	}()

	stopCause, exitErr := r.wait(ctx, p, log)
	if !p.reapGroup(reapLimit) {
		log.Warn("process group still alive after SIGKILL", "pgid", p.pgid)
	}
	r.drain(p, &wg, log)
	if readErr != nil && !errors.Is(readErr, os.ErrClosed) {
		log.Warn("read stdout", "err", readErr)
	}

	res.fill(rec)
	switch {
	case stopCause != stopNone:
		stopped(ctx, rec, stopCause == stopTimeout, r.cfg.Timeout)
	case readErr != nil && !errors.Is(readErr, os.ErrClosed) && res.Result == nil:
		fail(rec, subtypeReadError, "read stdout: "+readErr.Error())
	default:
		res.judge(rec, exitErr, lastStderr)
	}
	if res.Garbage > 0 {
		log.Warn("stdout lines that are not JSON", "lines", res.Garbage)
	}
	if exitErr != nil && rec.Outcome != session.OutcomeError && stopCause == stopNone {
		log.Warn("claude CLI exited with an error after a good result", "err", exitErr)
	}
}

type stopKind int

const (
	stopNone stopKind = iota
	stopTimeout
	stopCancel
)

// wait waits for the process to exit; on timeout or cancellation it sends
// SIGTERM to the group, and SIGKILL after the grace period.
func (r *Runner) wait(ctx context.Context, p *process, log *slog.Logger) (stopKind, error) {
	var timeout <-chan time.Time
	if r.cfg.Timeout > 0 {
		t := time.NewTimer(r.cfg.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var why stopKind
	select {
	case err := <-p.done:
		return stopNone, err
	case <-timeout:
		why = stopTimeout
	case <-ctx.Done():
		why = stopCancel
	}
	if err := p.signal(syscall.SIGTERM); err != nil {
		log.Warn("SIGTERM session", "pgid", p.pgid, "err", err)
	}
	grace := time.NewTimer(r.cfg.Grace)
	defer grace.Stop()
	select {
	case err := <-p.done:
		return why, err
	case <-grace.C:
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		log.Warn("SIGKILL session", "pgid", p.pgid, "err", err)
	}
	return why, <-p.done
}

// drain waits for the readers to reach EOF; a process that left the group
// may still hold the pipes, so after drainLimit our read ends are closed.
func (r *Runner) drain(p *process, wg *sync.WaitGroup, log *slog.Logger) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainLimit):
		log.Warn("output pipes held open after the session ended; closing them", "pgid", p.pgid)
	}
	p.stdout.Close()
	p.stderr.Close()
	<-done
}

// stopped sets the outcome of a session we stopped.
func stopped(ctx context.Context, rec *session.Record, timedOut bool, timeout time.Duration) {
	if timedOut {
		rec.Outcome = session.OutcomeTimeout
		rec.Reason = fmt.Sprintf("timed out after %s", timeout)
		return
	}
	cause := context.Cause(ctx)
	rec.Outcome = session.OutcomeInterrupted
	if o, ok := session.OutcomeOf(cause); ok {
		rec.Outcome = o
	}
	if cause != nil {
		rec.Reason = cause.Error()
	}
}

// readStderr copies stderr lines to the transcript and returns the last
// non-empty one, redacted.
func readStderr(f io.Reader, tr *transcript, red *redactor) string {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var last []byte
	for sc.Scan() {
		line := sc.Bytes()
		tr.stderrLine(line)
		if len(line) > 0 {
			last = append(last[:0], line...)
		}
	}
	if sc.Err() != nil {
		_, _ = io.Copy(io.Discard, f) // a line over 1 MiB: keep the CLI unblocked
	}
	return truncate(red.String(string(last)))
}

// openTranscript creates <ResultsDir>/<id>.jsonl. A failure is logged and
// the session runs without one.
func (r *Runner) openTranscript(rec *session.Record, red *redactor, log *slog.Logger) (*transcript, func()) {
	if r.cfg.ResultsDir == "" {
		return nil, func() {}
	}
	if err := os.MkdirAll(r.cfg.ResultsDir, 0o750); err != nil {
		log.Error("create results dir", "dir", r.cfg.ResultsDir, "err", err)
		return nil, func() {}
	}
	path := filepath.Join(r.cfg.ResultsDir, rec.ID+".jsonl")
	tr, f, err := createTranscript(path, red)
	if err != nil {
		log.Error("create transcript", "path", path, "err", err)
		return nil, func() {}
	}
	rec.Transcript = path
	return tr, func() {
		if err := tr.Err(); err != nil {
			log.Error("write transcript", "path", path, "err", err)
		}
		if err := f.Close(); err != nil {
			log.Error("close transcript", "path", path, "err", err)
		}
	}
}

type startEvent struct {
	Type       string          `json:"type"`
	Event      string          `json:"event"`
	ID         string          `json:"id"`
	Tier       session.Tier    `json:"tier"`
	Model      string          `json:"model"`
	Trigger    session.Trigger `json:"trigger,omitempty"`
	IncidentID string          `json:"incident_id,omitempty"`
	CLI        string          `json:"cli,omitempty"`
	Dir        string          `json:"dir,omitempty"`
	PID        int             `json:"pid,omitempty"`
	PGID       int             `json:"pgid,omitempty"`
	Args       []string        `json:"args,omitempty"`
	// Sandbox is the bwrap command line, environment values left out.
	Sandbox []string `json:"sandbox,omitempty"`
}

type endEvent struct {
	Type   string         `json:"type"`
	Event  string         `json:"event"`
	Record session.Record `json:"record"`
}
