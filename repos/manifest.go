// The services manifest, .claude-ops/services.yaml: the services a repo
// declares for the daemon to act on. Unlike the .md files, which the model
// reads, this file is data the daemon executes, so it is decoded strictly and
// validated whole: one mistake rejects the file.

package repos

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// ServicesFile is the services manifest of a repo.
const ServicesFile = ExtDir + "/services.yaml"

// MaxServicesBytes bounds .claude-ops/services.yaml; a larger file is skipped.
const MaxServicesBytes = 64 << 10

// ErrInvalidServices is wrapped by every error of ParseServices.
var ErrInvalidServices = errors.New("invalid services manifest")

// Timeout bounds of the commands of a services manifest.
const (
	MinTimeout       = model.Duration(time.Second)
	MaxActionTimeout = model.Duration(30 * time.Minute) // playbooks and redeploy
	MaxCheckTimeout  = model.Duration(5 * time.Minute)  // checks and verify
)

// ServiceDecl is one service a repo declares. Its name, aliases and
// depends_on are lowercase, as services.Canonical makes them.
type ServiceDecl struct {
	// Name is the canonical name, [a-z0-9][a-z0-9_.-]{0,62}.
	Name string `yaml:"name"`
	// Aliases are other names the model or alerts may use for the service.
	Aliases []string `yaml:"aliases,omitempty"`
	// Containers are the container names, compose service names or
	// "project/service" pairs that are this service; [Name] when not given.
	Containers []string `yaml:"containers,omitempty"`
	// Unit is a systemd unit ("nginx.service"), acted on when the service
	// has no container.
	Unit string `yaml:"unit,omitempty"`
	// DependsOn names the services in scope of an incident on this one.
	DependsOn []string `yaml:"depends_on,omitempty"`
	// Hosts are the "host" or "host:port" probes may reach for the service.
	Hosts []string `yaml:"hosts,omitempty"`
	// Redeploy replaces the engine's default redeploy (recreating the
	// containers); nil when not declared.
	Redeploy *Command `yaml:"redeploy,omitempty"`
	// Playbooks are the service's declared remediations.
	Playbooks []PlaybookDecl `yaml:"playbooks,omitempty"`
	// Checks are the service's declared read-only checks.
	Checks []CheckDecl `yaml:"checks,omitempty"`
}

// Command is a program the daemon runs directly, never through a shell.
type Command struct {
	// Argv is the program and its arguments; Argv[0] is an absolute path or
	// a bare name looked up in the daemon's PATH.
	Argv []string `yaml:"argv"`
	// Timeout bounds the run; required.
	Timeout model.Duration `yaml:"timeout"`
}

// Cooldown is the cooldown class a playbook run counts against.
type Cooldown string

// The cooldown classes.
const (
	CooldownRestart  Cooldown = "restart"
	CooldownRedeploy Cooldown = "redeploy"
	CooldownNone     Cooldown = "none"
)

// PlaybookDecl is a declared remediation: Argv run with Timeout at MinTier or
// above, then Verify if given.
type PlaybookDecl struct {
	// Name is [a-z0-9][a-z0-9_-]{0,62}, unique within the service.
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	Command     `yaml:",inline"`
	// MinTier is the lowest tier that may run the playbook: 2 or 3.
	MinTier int `yaml:"min_tier"`
	// Cooldown is the class whose cooldown a run counts against.
	Cooldown Cooldown `yaml:"cooldown"`
	// Verify, if set, is run after the playbook to check it worked.
	Verify *Command `yaml:"verify,omitempty"`
}

// CheckDecl is a declared read-only check.
type CheckDecl struct {
	// Name is [a-z0-9][a-z0-9_-]{0,62}, unique within the service.
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	Command     `yaml:",inline"`
}

// servicesFile is the document of services.yaml.
type servicesFile struct {
	Services []ServiceDecl `yaml:"services"`
}

var (
	serviceNameRE = regexp.MustCompile(`^` + serviceNamePattern + `$`)
	actionNameRE  = regexp.MustCompile(`^` + actionNamePattern + `$`)
	containerRE   = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]{0,127}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	unitRE        = regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]+)?\.service$`)
	hostLabelRE   = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$`)
	yamlFieldRE   = regexp.MustCompile(`^line (\d+): field (\S+) (not found|already set) in type (\S+)$`)
	yamlTypeRE    = regexp.MustCompile(`^line (\d+): cannot unmarshal (.*) into (\S+)$`)
)

// The patterns of service names (and aliases), and of playbook and check names.
const (
	serviceNamePattern = `[a-z0-9][a-z0-9_.-]{0,62}`
	actionNamePattern  = `[a-z0-9][a-z0-9_-]{0,62}`
)

// maxMessages bounds the validation messages one error lists.
const maxMessages = 10

// ParseServices decodes and validates a services manifest. Unknown keys are
// errors. Every error wraps ErrInvalidServices and lists the mistakes found
// (at most 10), each prefixed with where it is, e.g.
// `service "web": playbook "flush": timeout is required (1s..30m)`.
// A service without containers gets [Name].
func ParseServices(data []byte) ([]ServiceDecl, error) {
	if len(data) > MaxServicesBytes {
		return nil, fmt.Errorf("%w: %w: over %d bytes", ErrInvalidServices, ErrTooLarge, MaxServicesBytes)
	}
	var doc servicesFile
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidServices, yamlMessage(err))
	}
	v := validator{}
	v.services(doc.Services)
	if len(v.msgs) > 0 {
		msgs := v.msgs
		if len(msgs) > maxMessages {
			msgs = append(msgs[:maxMessages:maxMessages], fmt.Sprintf("and %d more", len(v.msgs)-maxMessages))
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalidServices, strings.Join(msgs, "; "))
	}
	for i := range doc.Services {
		if len(doc.Services[i].Containers) == 0 {
			doc.Services[i].Containers = []string{doc.Services[i].Name}
		}
	}
	return doc.Services, nil
}

// yamlMessage is a decoding error, one line, without Go type names.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if g := yamlFieldRE.FindStringSubmatch(m); g != nil {
			if g[3] == "not found" {
				m = fmt.Sprintf("line %s: unknown key %q %s", g[1], g[2], yamlWhere(g[4]))
			} else {
				m = fmt.Sprintf("line %s: key %q is set twice %s", g[1], g[2], yamlWhere(g[4]))
			}
		} else if g := yamlTypeRE.FindStringSubmatch(m); g != nil {
			m = fmt.Sprintf("line %s: cannot use %s as %s", g[1], g[2], yamlWhat(g[3]))
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}

func yamlWhere(goType string) string {
	switch goType {
	case "repos.servicesFile":
		return "at the top level"
	case "repos.ServiceDecl":
		return "in a service"
	case "repos.PlaybookDecl":
		return "in a playbook"
	case "repos.CheckDecl":
		return "in a check"
	case "repos.Command":
		return "in a command"
	}
	return "in " + goType
}

func yamlWhat(goType string) string {
	switch goType {
	case "int":
		return "a number"
	case "string", "repos.Cooldown":
		return "a string"
	case "[]string":
		return "a list of strings"
	case "repos.servicesFile", "repos.ServiceDecl", "repos.PlaybookDecl", "repos.CheckDecl", "repos.Command":
		return "a mapping"
	case "[]repos.ServiceDecl", "[]repos.PlaybookDecl", "[]repos.CheckDecl":
		return "a list of mappings"
	}
	return goType
}

// validator collects the mistakes of one manifest.
type validator struct{ msgs []string }

func (v *validator) addf(where, format string, args ...any) {
	v.msgs = append(v.msgs, where+": "+fmt.Sprintf(format, args...))
}

// label names an item in messages: by its name, else by its position.
func label(kind, name string, i int) string {
	if name == "" {
		return fmt.Sprintf("%s #%d", kind, i+1)
	}
	return fmt.Sprintf("%s %q", kind, name)
}

func (v *validator) services(decls []ServiceDecl) {
	// claimed maps each name, alias and container of the file (lowercased)
	// to the service that claimed it first.
	claimed := map[string]string{}
	seen := map[string]bool{}
	for i, s := range decls {
		where := label("service", s.Name, i)
		switch {
		case s.Name == "":
			v.addf(where, "name is required")
		case !serviceNameRE.MatchString(s.Name):
			v.addf(where, "name must match %s", serviceNamePattern)
		case seen[s.Name]:
			v.addf(where, "declared twice")
			continue // one message for a repeated service
		}
		seen[s.Name] = true

		claim := func(kind, key string) {
			k := strings.ToLower(key)
			if owner, ok := claimed[k]; ok && owner != s.Name {
				v.addf(where, "%s %q is already claimed by service %q", kind, key, owner)
				return
			}
			claimed[k] = s.Name
		}
		if s.Name != "" {
			claim("name", s.Name)
		}
		v.names(where, "alias", s.Aliases, serviceNameRE, "match "+serviceNamePattern, s.Name, claim)
		if len(s.Containers) == 0 && s.Name != "" {
			claim("container", s.Name)
		}
		v.names(where, "container", s.Containers, containerRE, "be a container or compose service name, or project/service", "", claim)
		v.names(where, "depends_on", s.DependsOn, serviceNameRE, "match "+serviceNamePattern, s.Name, nil)

		if s.Unit != "" && (len(s.Unit) > 255 || !unitRE.MatchString(s.Unit)) {
			v.addf(where, "unit %q must be a systemd service unit name (e.g. nginx.service)", s.Unit)
		}
		hosts := map[string]bool{}
		for _, h := range s.Hosts {
			host, port, err := SplitHost(h)
			switch {
			case err != nil:
				v.addf(where, "host %q: %v", h, err)
			case hosts[net.JoinHostPort(host, port)]:
				v.addf(where, "host %q is listed twice", h)
			default:
				hosts[net.JoinHostPort(host, port)] = true
			}
		}
		if s.Redeploy != nil {
			v.command(where+": redeploy", *s.Redeploy, MaxActionTimeout)
		}

		names := map[string]bool{}
		for j, p := range s.Playbooks {
			pw := where + ": " + label("playbook", p.Name, j)
			v.actionName(pw, p.Name, names)
			v.command(pw, p.Command, MaxActionTimeout)
			switch {
			case p.MinTier == 0:
				v.addf(pw, "min_tier is required (2 or 3)")
			case p.MinTier != 2 && p.MinTier != 3:
				v.addf(pw, "min_tier %d must be 2 or 3", p.MinTier)
			}
			switch p.Cooldown {
			case CooldownRestart, CooldownRedeploy, CooldownNone:
			case "":
				v.addf(pw, "cooldown is required (restart, redeploy or none)")
			default:
				v.addf(pw, "cooldown %q must be restart, redeploy or none", p.Cooldown)
			}
			if p.Verify != nil {
				v.command(pw+": verify", *p.Verify, MaxCheckTimeout)
			}
		}
		names = map[string]bool{}
		for j, c := range s.Checks {
			cw := where + ": " + label("check", c.Name, j)
			v.actionName(cw, c.Name, names)
			v.command(cw, c.Command, MaxCheckTimeout)
		}
	}
}

// names checks a list of names: each matches re (else "must "+want), none is
// listed twice or is self; claim, if set, is given each valid one.
func (v *validator) names(where, kind string, list []string, re *regexp.Regexp, want, self string, claim func(kind, key string)) {
	seen := map[string]bool{}
	for _, n := range list {
		switch {
		case !re.MatchString(n):
			v.addf(where, "%s %q must %s", kind, n, want)
		case self != "" && n == self:
			v.addf(where, "%s %q is the service's own name", kind, n)
		case seen[strings.ToLower(n)]:
			v.addf(where, "%s %q is listed twice", kind, n)
		default:
			seen[strings.ToLower(n)] = true
			if claim != nil {
				claim(kind, n)
			}
		}
	}
}

func (v *validator) actionName(where, name string, seen map[string]bool) {
	switch {
	case name == "":
		v.addf(where, "name is required")
	case !actionNameRE.MatchString(name):
		v.addf(where, "name must match %s", actionNamePattern)
	case seen[name]:
		v.addf(where, "declared twice")
	}
	seen[name] = true
}

func (v *validator) command(where string, c Command, maxTimeout model.Duration) {
	if len(c.Argv) == 0 {
		v.addf(where, "argv is required")
	}
	for i, a := range c.Argv {
		switch {
		case a == "":
			v.addf(where, "argv[%d] is empty", i)
		case strings.ContainsRune(a, 0):
			v.addf(where, "argv[%d] contains a NUL byte", i)
		case i == 0 && !strings.HasPrefix(a, "/") && strings.ContainsRune(a, '/'):
			v.addf(where, "argv[0] %q must be an absolute path or a bare command name", a)
		case i == 0 && strings.TrimSpace(a) != a:
			v.addf(where, "argv[0] %q has surrounding spaces", a)
		}
	}
	switch {
	case c.Timeout == 0:
		v.addf(where, "timeout is required (%s..%s)", MinTimeout, maxTimeout)
	case c.Timeout < MinTimeout || c.Timeout > maxTimeout:
		v.addf(where, "timeout %s is out of range %s..%s", c.Timeout, MinTimeout, maxTimeout)
	}
}

// SplitHost parses a "host" or "host:port" as services.yaml hosts and probe
// targets give it, without scheme, credentials or path. host is lowercased
// (an IP address in its canonical form, IPv6 without brackets); port is ""
// when not given, else 1..65535 in decimal.
func SplitHost(hostport string) (host, port string, err error) {
	s := hostport
	switch {
	case s == "":
		return "", "", errors.New("empty host")
	case strings.Contains(s, "://"):
		return "", "", errors.New("must be host or host:port, without a scheme")
	case strings.ContainsRune(s, '@'):
		return "", "", errors.New("must be host or host:port, without credentials")
	case strings.ContainsAny(s, "/?#"):
		return "", "", errors.New("must be host or host:port, without a path")
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return "", "", errors.New("must be host or host:port, without spaces or special characters")
	}

	bracketed := strings.HasPrefix(s, "[")
	switch {
	case bracketed && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	case bracketed || strings.Count(s, ":") == 1:
		if host, port, err = net.SplitHostPort(s); err != nil {
			return "", "", errors.New("must be host or host:port")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", "", fmt.Errorf("port %q must be a number 1..65535", port)
		}
	default: // no port, or an IPv6 address without brackets
		host = s
	}

	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return "", "", errors.New("an IPv6 zone is not allowed")
		}
		return addr.String(), port, nil
	}
	if bracketed || strings.Contains(host, ":") {
		return "", "", fmt.Errorf("%q is not an IPv6 address", host)
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	labels := strings.Split(host, ".")
	if len(host) > 253 || host == "" {
		return "", "", fmt.Errorf("%q is not a valid host name", host)
	}
	for _, l := range labels {
		if !hostLabelRE.MatchString(l) {
			return "", "", fmt.Errorf("%q is not a valid host name", host)
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", "", fmt.Errorf("%q is not a valid IP address", host)
	}
	return host, port, nil
}

// loadServices reads and validates the repo's services.yaml; nil when the
// repo has none or it is broken (then reported).
func (inv *Inventory) loadServices(repo, root string) []ServiceDecl {
	report := func(err error) {
		inv.Errors = append(inv.Errors, RepoError{Repo: repo, File: ServicesFile, Err: err})
	}
	text, truncated, err := readBounded(root, ServicesFile, MaxServicesBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		report(err)
		return nil
	case truncated:
		report(fmt.Errorf("%w: over %d bytes, skipped", ErrTooLarge, MaxServicesBytes))
		return nil
	}
	decls, err := ParseServices([]byte(text))
	if err != nil {
		report(err)
		return nil
	}
	return decls
}
