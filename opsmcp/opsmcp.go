// Package opsmcp is the MCP server `ops` inside the daemon: the typed tools a
// session acts through (the CLI names them mcp__ops__<tool>). Each session
// gets a bearer token of its own; the token, not anything the model says,
// says which session, tier, incident and service a call belongs to. Tier 1
// is offered the read-only probes only; every call goes through the action
// chain (package actions) whatever the tool list says.
package opsmcp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/claude-ops/claude-ops/actions"
	"github.com/claude-ops/claude-ops/services"
	"github.com/claude-ops/claude-ops/session"
)

// Name is the server's name: the CLI's tools are mcp__ops__<tool>.
const Name = "ops"

// Path is where Handler is mounted.
const Path = "/mcp"

// Chain decides and executes a call (actions.Chain implements it).
type Chain interface {
	Do(ctx context.Context, s actions.Session, call actions.Call) actions.Result
}

// Server serves the ops tools to registered sessions.
type Server struct {
	chain    Chain
	catalog  func(ctx context.Context) (*services.Catalog, error)
	promQL   bool
	byTier   map[session.Tier]*mcp.Server
	handler  http.Handler
	mu       sync.Mutex
	sessions map[string]actions.Session // by token
}

// New returns the server. promQL offers prometheus_query.
func New(chain Chain, catalog func(ctx context.Context) (*services.Catalog, error), promQL bool) *Server {
	s := &Server{chain: chain, catalog: catalog, promQL: promQL, sessions: map[string]actions.Session{}, byTier: map[session.Tier]*mcp.Server{}}
	for _, t := range []session.Tier{session.Tier1, session.Tier2, session.Tier3} {
		s.byTier[t] = s.newServer(t)
	}
	h := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		sess, ok := sessionOf(r.Context())
		if !ok {
			return nil
		}
		return s.byTier[sess.Tier]
	}, &mcp.StreamableHTTPOptions{Stateless: true})
	s.handler = auth.RequireBearerToken(s.verify, nil)(h)
	return s
}

// Handler serves MCP over streamable HTTP at Path.
func (s *Server) Handler() http.Handler { return s.handler }

// Register binds a new token to the session; unregister makes it worthless.
func (s *Server) Register(sess actions.Session) (token string, unregister func()) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	token = hex.EncodeToString(b[:])
	s.mu.Lock()
	s.sessions[token] = sess
	s.mu.Unlock()
	return token, func() {
		s.mu.Lock()
		delete(s.sessions, token)
		s.mu.Unlock()
	}
}

// Tools lists the tool names a tier is offered, as the CLI's allow rules
// name them (mcp__ops__<tool>).
func (s *Server) Tools(t session.Tier) []string {
	var out []string
	for _, tool := range toolsFor(t, s.promQL) {
		out = append(out, "mcp__"+Name+"__"+tool.name)
	}
	return out
}

// MCPConfig is the CLI's --mcp-config entry of the server for a session.
func MCPConfig(url, token string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"type": "http", "url": url, "headers": map[string]string{"Authorization": "Bearer " + token},
	})
	return b
}

func (s *Server) verify(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, sess := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return &auth.TokenInfo{Expiration: time.Now().Add(24 * time.Hour), UserID: sess.ID, Extra: map[string]any{"session": sess}}, nil
		}
	}
	return nil, auth.ErrInvalidToken
}

func sessionOf(ctx context.Context) (actions.Session, bool) {
	ti := auth.TokenInfoFromContext(ctx)
	if ti == nil {
		return actions.Session{}, false
	}
	sess, ok := ti.Extra["session"].(actions.Session)
	return sess, ok
}

// Inputs of the tools; the schema the model sees comes from these.
type serviceIn struct {
	Service string `json:"service" jsonschema:"the service: its name from list_services, or any alias (container name, compose service, container ID)"`
}
type playbookIn struct {
	Service  string `json:"service" jsonschema:"the service the playbook belongs to"`
	Playbook string `json:"playbook" jsonschema:"the playbook's name as list_services shows it"`
}
type checkIn struct {
	Service string `json:"service" jsonschema:"the service the check belongs to"`
	Check   string `json:"check" jsonschema:"the check's name as list_services shows it"`
}
type logsIn struct {
	Service string `json:"service" jsonschema:"the service whose containers' logs to read"`
	Tail    int    `json:"tail,omitempty" jsonschema:"lines from the end of each container's log (default 100, at most 1000)"`
}
type httpIn struct {
	URL    string `json:"url" jsonschema:"an http or https URL on a host of the inventory"`
	Method string `json:"method,omitempty" jsonschema:"GET (default) or HEAD"`
}
type promIn struct {
	Expr string `json:"expr" jsonschema:"a PromQL expression, evaluated now"`
}
type noIn struct{}

// tool is one entry of the catalogue.
type tool struct {
	name, description string
	changes           bool
	add               func(s *Server, srv *mcp.Server, t *mcp.Tool)
}

func typed[In any](call func(In) actions.Call) func(s *Server, srv *mcp.Server, t *mcp.Tool) {
	return func(s *Server, srv *mcp.Server, t *mcp.Tool) {
		mcp.AddTool(srv, t, func(ctx context.Context, _ *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
			sess, ok := sessionOf(ctx)
			if !ok {
				return nil, nil, errors.New("no session")
			}
			res := s.chain.Do(ctx, sess, call(in))
			return &mcp.CallToolResult{
				Content: []mcp.Content{&mcp.TextContent{Text: res.Text}},
				IsError: res.Result == session.ResultRefused || res.Result == session.ResultFailed || res.Result == session.ResultUnverified,
			}, nil, nil
		})
	}
}

var catalogue = []tool{
	{name: "list_services", description: "List the services of the inventory: canonical names, aliases, containers, systemd unit, dependencies, hosts, declared playbooks and checks.",
		add: func(s *Server, srv *mcp.Server, t *mcp.Tool) {
			mcp.AddTool(srv, t, func(ctx context.Context, _ *mcp.CallToolRequest, _ noIn) (*mcp.CallToolResult, any, error) {
				cat, err := s.catalog(ctx)
				if err != nil {
					return nil, nil, fmt.Errorf("read the inventory: %w", err)
				}
				b, err := json.MarshalIndent(describe(cat), "", "  ")
				if err != nil {
					return nil, nil, err
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil, nil
			})
		}},
	{name: "container_status", description: "What the container engine says of a service's containers: state, health, start time, restart count.",
		add: typed(func(in serviceIn) actions.Call {
			return actions.Call{Kind: session.ProbeContainerStatus, Target: in.Service}
		})},
	{name: "container_logs", description: "The last lines of the logs of a service's containers.",
		add: typed(func(in logsIn) actions.Call {
			return actions.Call{Kind: session.ProbeContainerLogs, Target: in.Service, Tail: min(in.Tail, 1000)}
		})},
	{name: "unit_status", description: "systemctl status of a service's declared systemd unit.",
		add: typed(func(in serviceIn) actions.Call {
			return actions.Call{Kind: session.ProbeUnitStatus, Target: in.Service}
		})},
	{name: "http_probe", description: "One GET or HEAD request to a URL on a host the inventory declares; answers the status, time and the start of the body.",
		add: typed(func(in httpIn) actions.Call {
			return actions.Call{Kind: session.ProbeHTTP, Target: in.URL, Method: in.Method}
		})},
	{name: "declared_check", description: "Run a check the repo owner declared for a service (see list_services).",
		add: typed(func(in checkIn) actions.Call {
			return actions.Call{Kind: session.ProbeDeclaredCheck, Target: in.Service, Name: in.Check}
		})},
	{name: "prometheus_query", description: "Evaluate a PromQL expression now against the Prometheus Claude Ops is configured with.",
		add: typed(func(in promIn) actions.Call {
			return actions.Call{Kind: session.ProbePrometheus, Target: in.Expr}
		})},
	{name: "restart_service", changes: true, description: "Restart a service (its containers, or its systemd unit). Checked against your tier, the incident's scope, the cooldown, the blast radius and the budget; verified with the engine.",
		add: typed(func(in serviceIn) actions.Call {
			return actions.Call{Kind: session.ActionRestart, Target: in.Service}
		})},
	{name: "redeploy_service", changes: true, description: "Redeploy a service: the redeploy its repo declares, or a recreation of its containers. Tier 3 only; checked and verified like restart_service.",
		add: typed(func(in serviceIn) actions.Call {
			return actions.Call{Kind: session.ActionRedeploy, Target: in.Service}
		})},
	{name: "run_playbook", changes: true, description: "Run a playbook the repo owner declared for a service (see list_services). Checked and recorded like restart_service.",
		add: typed(func(in playbookIn) actions.Call {
			return actions.Call{Kind: session.ActionPlaybook, Target: in.Service, Name: in.Playbook}
		})},
}

func toolsFor(t session.Tier, promQL bool) []tool {
	var out []tool
	for _, tl := range catalogue {
		if (tl.changes && t < session.Tier2) || (tl.name == "prometheus_query" && !promQL) {
			continue
		}
		out = append(out, tl)
	}
	return out
}

func (s *Server) newServer(t session.Tier) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: Name, Version: "1"}, nil)
	for _, tl := range toolsFor(t, s.promQL) {
		readOnly := !tl.changes
		tl.add(s, srv, &mcp.Tool{Name: tl.name, Description: tl.description,
			Annotations: &mcp.ToolAnnotations{ReadOnlyHint: readOnly}})
	}
	return srv
}

// serviceView is one service as list_services shows it.
type serviceView struct {
	Name       string   `json:"name"`
	Repo       string   `json:"repo,omitempty"`
	Aliases    []string `json:"aliases,omitempty"`
	Containers []string `json:"containers,omitempty"`
	Unit       string   `json:"unit,omitempty"`
	DependsOn  []string `json:"depends_on,omitempty"`
	Hosts      []string `json:"hosts,omitempty"`
	Playbooks  []string `json:"playbooks,omitempty"`
	Checks     []string `json:"checks,omitempty"`
	Redeploy   string   `json:"redeploy,omitempty"`
}

func describe(cat *services.Catalog) []serviceView {
	var out []serviceView
	for _, name := range cat.Names() {
		svc, _ := cat.Resolve(name)
		v := serviceView{Name: svc.Name, Repo: svc.Repo, Aliases: svc.Aliases, Unit: svc.Unit, DependsOn: svc.DependsOn, Hosts: svc.Hosts}
		for _, c := range svc.Containers {
			v.Containers = append(v.Containers, c.Name)
		}
		for _, p := range svc.Playbooks {
			v.Playbooks = append(v.Playbooks, fmt.Sprintf("%s (tier %d+): %s", p.Name, p.MinTier, p.Description))
		}
		for _, c := range svc.Checks {
			v.Checks = append(v.Checks, fmt.Sprintf("%s: %s", c.Name, c.Description))
		}
		switch {
		case svc.Redeploy != nil:
			v.Redeploy = "declared by the repo"
		case len(svc.Containers) > 0:
			v.Redeploy = "recreate the containers"
		}
		sort.Strings(v.Containers)
		out = append(out, v)
	}
	return out
}
