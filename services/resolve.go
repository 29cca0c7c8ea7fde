package services

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/claude-ops/claude-ops/repos"
)

// Resolve returns the service a name, alias or container identity denotes
// (see the package documentation). An unknown text, or an ID prefix or
// compose container name that matches several services, does not resolve.
// The service is shared: do not modify it.
func (c *Catalog) Resolve(alias string) (*Service, bool) {
	if c == nil {
		return nil, false
	}
	k := Canonical(alias)
	if k == "" {
		return nil, false
	}
	if s, ok := c.index[k]; ok {
		return s, true
	}
	if len(k) >= 12 && isHex(k) {
		i, _ := slices.BinarySearchFunc(c.ids, k, func(x idOwner, k string) int { return strings.Compare(x.id, k) })
		var found *Service
		for ; i < len(c.ids) && strings.HasPrefix(c.ids[i].id, k); i++ {
			if found != nil {
				return nil, false // the prefix is not unique
			}
			found = c.ids[i].svc
		}
		if found != nil {
			return found, true
		}
	}
	// A compose container name: project-service-N or project_service_N,
	// either separator, the replica need not exist.
	j := strings.LastIndexAny(k, "-_")
	if j <= 0 || j == len(k)-1 || strings.Trim(k[j+1:], "0123456789") != "" {
		return nil, false
	}
	prefix := k[:j]
	var found *Service
	for i := 1; i < len(prefix)-1; i++ {
		if prefix[i] != '-' && prefix[i] != '_' {
			continue
		}
		if s := c.compose[[2]string{prefix[:i], prefix[i+1:]}]; s != nil {
			if found != nil && found != s {
				return nil, false
			}
			found = s
		}
	}
	return found, found != nil
}

// Names returns the canonical names of every service, sorted.
func (c *Catalog) Names() []string {
	if c == nil {
		return nil
	}
	names := make([]string, len(c.services))
	for i, s := range c.services {
		names[i] = s.Name
	}
	return names
}

// Services returns every service, sorted by name.
func (c *Catalog) Services() []*Service {
	if c == nil {
		return nil
	}
	return slices.Clone(c.services)
}

// InScope reports whether an incident on the alerted service (any text
// Resolve accepts) may act on target: target is the alerted service itself
// or one of its direct depends_on. Dependencies are not followed
// transitively: an incident on web whose db depends on storage does not
// reach storage. An alerted service that does not resolve has nothing in
// scope.
func (c *Catalog) InScope(alerted string, target *Service) bool {
	if target == nil {
		return false
	}
	a, ok := c.Resolve(alerted)
	if !ok {
		return false
	}
	return a.Name == target.Name || slices.Contains(a.DependsOn, target.Name)
}

// URL checks a URL a session or a probe plan wants the daemon to reach: http
// or https, no credentials, and a host (with the scheme's default port when
// it names none) that a service declares. It returns that host:port.
func (c *Catalog) URL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("url %q is not a URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("url %q: only http and https URLs may be probed", raw)
	case u.User != nil:
		return "", fmt.Errorf("url has credentials: probe URLs must carry none")
	case u.Host == "":
		return "", fmt.Errorf("url %q has no host", raw)
	}
	hostport := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		hostport = net.JoinHostPort(u.Hostname(), port)
	}
	if _, ok := c.HostAllowed(hostport); !ok {
		return "", fmt.Errorf("%s is not a host of the inventory (no service declares it in %s)", hostport, repos.ServicesFile)
	}
	return hostport, nil
}

// HostAllowed reports the service that declares the host of hostport (a
// URL's host: "host" or "host:port"; the caller adds the scheme's default
// port when it knows it). A declaration without a port allows every port of
// its host; one with a port only that port, and a hostport without a port
// matches only declarations without one. A host several services declare is
// given to the first, by precedence.
func (c *Catalog) HostAllowed(hostport string) (service string, ok bool) {
	if c == nil {
		return "", false
	}
	host, port, err := repos.SplitHost(hostport)
	if err != nil {
		return "", false
	}
	var any *Service
	for _, h := range c.hosts {
		if h.host != host {
			continue
		}
		if h.port == port && port != "" {
			return h.svc.Name, true
		}
		if h.port == "" && any == nil {
			any = h.svc
		}
	}
	if any != nil {
		return any.Name, true
	}
	return "", false
}

func joinHost(host, port string) string {
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
