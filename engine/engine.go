// Package engine is the daemon's only client of the Docker Engine API: it
// lists, inspects, restarts and recreates containers and reads their logs,
// against Docker (API >= 1.44) or Podman 4's compat API (1.41) alike. The API
// version is negotiated on the first call.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// ErrNotFound is in the chain of the error of any call on a container (or
// image) that the engine does not have.
var ErrNotFound = errors.New("not found")

// Compose's labels on the containers it creates.
const (
	LabelComposeService = "com.docker.compose.service"
	LabelComposeProject = "com.docker.compose.project"
)

// Log bounds.
const (
	MaxLogBytes = 64 << 10 // Logs keeps the last 64 KiB
	MaxLogTail  = 1000     // and asks for at most this many lines
)

// inspectConcurrency bounds the inspects Containers runs at once.
const inspectConcurrency = 8

// Engine is a client of one container engine. It is safe for concurrent use.
type Engine struct {
	c *client.Client
}

// New returns a client of the engine at host ("unix:///run/docker.sock",
// "tcp://host:2376"…); host "" means DOCKER_HOST, else the default socket,
// as every Docker tool does. DOCKER_CERT_PATH, DOCKER_TLS_VERIFY and
// DOCKER_API_VERSION (which pins the version and turns negotiation off) apply
// too. New does not connect: Ping does.
func New(host string) (*Engine, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("engine: new client for %q: %w", host, err)
	}
	return &Engine{c: c}, nil
}

// Close releases the client's idle connections.
func (e *Engine) Close() error { return e.c.Close() }

// Host returns the engine address the client uses.
func (e *Engine) Host() string { return e.c.DaemonHost() }

// Info describes the engine, for the startup log line.
type Info struct {
	Host             string // address used, "unix:///run/docker.sock"
	Name             string // "Docker Engine - Community", "Podman Engine"
	ServerVersion    string // "29.0.1", "4.3.1"
	APIVersion       string // newest API the engine speaks, "1.52", "1.41"
	MinAPIVersion    string // oldest API the engine speaks
	ClientAPIVersion string // API version this client negotiated and uses
	OS, Arch         string
}

// String is the startup log line's text.
func (i Info) String() string {
	return fmt.Sprintf("%s %s at %s (API %s, min %s, using %s; %s/%s)",
		i.Name, i.ServerVersion, i.Host, i.APIVersion, i.MinAPIVersion, i.ClientAPIVersion, i.OS, i.Arch)
}

// Ping checks the engine answers, negotiates the API version and says which
// engine it is.
func (e *Engine) Ping(ctx context.Context) (Info, error) {
	p, err := e.c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		return Info{}, fmt.Errorf("engine: ping %s: %w", e.Host(), err)
	}
	v, err := e.c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("engine: version %s: %w", e.Host(), err)
	}
	info := Info{
		Host:             e.Host(),
		Name:             engineName(v),
		ServerVersion:    v.Version,
		APIVersion:       v.APIVersion,
		MinAPIVersion:    v.MinAPIVersion,
		ClientAPIVersion: e.c.ClientVersion(),
		OS:               v.Os,
		Arch:             v.Arch,
	}
	if info.APIVersion == "" {
		info.APIVersion = p.APIVersion
	}
	if info.OS == "" {
		info.OS = p.OSType
	}
	return info, nil
}

// engineName names the engine: Docker puts "Docker Engine - Community" in
// Platform.Name and calls its component "Engine"; Podman puts
// "linux/amd64/debian-12" there and calls its component "Podman Engine".
func engineName(v client.ServerVersionResult) string {
	var comp string
	if len(v.Components) > 0 {
		comp = v.Components[0].Name
	}
	switch {
	case comp != "" && comp != "Engine":
		return comp
	case strings.Contains(v.Platform.Name, "Engine"):
		return v.Platform.Name
	case comp != "":
		return comp
	case v.Platform.Name != "":
		return v.Platform.Name
	}
	return "unknown engine"
}

// Container is what the daemon needs to know of a container.
type Container struct {
	ID             string
	Name           string // without the leading slash
	Image          string // as given at creation ("nginx:1.27"), else the image ID
	State          string // created, running, paused, restarting, removing, exited, dead
	Health         string // healthy, unhealthy, starting, "" (no healthcheck)
	StartedAt      time.Time
	RestartCount   int
	ComposeService string // label com.docker.compose.service
	ComposeProject string // label com.docker.compose.project
	Labels         map[string]string
}

// Containers lists every container, stopped ones included, sorted by name.
// The list does not carry StartedAt, Health or RestartCount, so each
// container is also inspected (a few at a time); one that disappears between
// the two calls is left out.
func (e *Engine) Containers(ctx context.Context) ([]Container, error) {
	list, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("engine: list containers: %w", wrapNotFound(err))
	}
	out := make([]Container, len(list.Items))
	errs := make([]error, len(list.Items))
	gone := make([]bool, len(list.Items))
	sem := make(chan struct{}, inspectConcurrency)
	var wg sync.WaitGroup
	for i, s := range list.Items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := e.c.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
			switch {
			case cerrdefs.IsNotFound(err):
				gone[i] = true
			case err != nil:
				errs[i] = fmt.Errorf("engine: inspect %s: %w", s.ID, err)
			default:
				out[i] = fromInspect(r.Container)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, c := range out {
		if !gone[i] {
			kept = append(kept, c)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name < kept[j].Name })
	return kept, nil
}

// Inspect returns one container by ID, ID prefix or name.
func (e *Engine) Inspect(ctx context.Context, idOrName string) (Container, error) {
	r, err := e.c.ContainerInspect(ctx, idOrName, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, fmt.Errorf("engine: inspect %s: %w", idOrName, wrapNotFound(err))
	}
	return fromInspect(r.Container), nil
}

// Restart stops the container (SIGKILL after timeout, rounded up to whole
// seconds; a negative timeout means the container's own stop timeout) and
// starts it again. It returns once the container runs again; ctx must allow
// for the timeout.
func (e *Engine) Restart(ctx context.Context, id string, timeout time.Duration) error {
	if _, err := e.c.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: seconds(timeout)}); err != nil {
		return fmt.Errorf("engine: restart %s: %w", id, wrapNotFound(err))
	}
	return nil
}

// Logs returns the last tail lines (clamped to [1, MaxLogTail]) the
// container wrote on stdout and stderr, interleaved as written, and at most
// the last MaxLogBytes of them.
func (e *Engine) Logs(ctx context.Context, id string, tail int) (string, error) {
	tail = min(max(tail, 1), MaxLogTail)
	// Without a TTY the stream is multiplexed (8-byte frame headers); with
	// one it is raw.
	r, err := e.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("engine: logs %s: %w", id, wrapNotFound(err))
	}
	tty := r.Container.Config != nil && r.Container.Config.Tty
	rc, err := e.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Tail:       strconv.Itoa(tail),
	})
	if err != nil {
		return "", fmt.Errorf("engine: logs %s: %w", id, wrapNotFound(err))
	}
	defer rc.Close()
	w := &tailWriter{max: MaxLogBytes}
	if tty {
		_, err = io.Copy(w, rc)
	} else {
		_, err = stdcopy.StdCopy(w, w, rc)
	}
	if err != nil {
		return "", fmt.Errorf("engine: logs %s: read: %w", id, err)
	}
	return w.String(), nil
}

// fromInspect converts an inspect response.
func fromInspect(r container.InspectResponse) Container {
	c := Container{
		ID:           r.ID,
		Name:         strings.TrimPrefix(r.Name, "/"),
		Image:        r.Image,
		RestartCount: r.RestartCount,
	}
	if r.Config != nil {
		if r.Config.Image != "" {
			c.Image = r.Config.Image
		}
		c.Labels = r.Config.Labels
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.ComposeService = c.Labels[LabelComposeService]
	c.ComposeProject = c.Labels[LabelComposeProject]
	if s := r.State; s != nil {
		c.State = string(s.Status)
		if s.Health != nil && s.Health.Status != container.NoHealthcheck {
			// Docker omits Health without a healthcheck; Podman 4.3 sends
			// {"Status": ""}.
			c.Health = string(s.Health.Status)
		}
		c.StartedAt = parseTime(s.StartedAt)
	}
	return c
}

// parseTime parses an engine timestamp; the zero "0001-01-01T00:00:00Z" and
// anything unparsable give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// seconds converts a stop timeout for the API: nil (the container's own)
// when negative, else whole seconds rounded up.
func seconds(d time.Duration) *int {
	if d < 0 {
		return nil
	}
	s := int(min(math.Ceil(d.Seconds()), math.MaxInt32))
	return &s
}

// wrapNotFound puts ErrNotFound in the chain of an engine's "no such
// object" error, keeping the engine's message.
func wrapNotFound(err error) error {
	if err != nil && cerrdefs.IsNotFound(err) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	buf []byte
	cut bool // bytes were dropped from the front
}

func (w *tailWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= w.max {
		w.cut = w.cut || len(w.buf) > 0 || len(p) > w.max
		w.buf = append(w.buf[:0], p[len(p)-w.max:]...)
		return n, nil
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2*w.max {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.max:]...)
		w.cut = true
	}
	return n, nil
}

// String returns the kept tail; when the front was cut, it starts on a
// whole UTF-8 character.
func (w *tailWriter) String() string {
	b := w.buf
	if len(b) > w.max {
		b = b[len(b)-w.max:]
		w.cut = true
	}
	if w.cut {
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	return string(b)
}
