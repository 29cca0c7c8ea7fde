// Package services is the catalog of the services the daemon may act on:
// those the repos declare in .claude-ops/services.yaml and those the container
// engine runs, each under one canonical identity whatever name the model or an
// alert uses for it. It is pure: the caller lists the containers and loads the
// repos, Build only combines them.
//
// Resolution. A declared service answers to its name, its aliases and the
// entries of its containers list (container names, compose service names or
// "project/service"); it owns every container whose name, compose service or
// compose project/service is one of those entries. A container no
// declaration owns is an engine-only service, named by its compose service
// label, else by its container name. Every service also answers to its
// containers' names (with or without the leading '/'), full IDs, unique ID
// prefixes of at least 12 hex digits, compose service labels, and
// "project-service-N" / "project_service_N" compose container names.
// Matching is case-insensitive.
//
// Conflicts. When two services claim the same text, the claim of higher
// precedence wins and the other is listed in Catalog.Conflicts, never
// silently dropped. Precedence: service names, then aliases, then declared
// container entries, then the engine's container identities; within each,
// declared services before engine-only ones, repos in lexical order, then
// file order. A service declared again by a later repo is ignored whole; a
// bare compose service entry that matches containers of several compose
// projects owns only those of the first project (lexical order).
package services

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/claude-ops/claude-ops/repos"
)

// Decl is a service declaration with the repo that made it.
type Decl struct {
	Repo    string
	Service repos.ServiceDecl
}

// Container is a container the engine lists (running or not).
type Container struct {
	ID             string // full ID, 64 hex digits for Docker
	Name           string // container name, with or without the leading '/'
	ComposeService string // com.docker.compose.service label, "" if none
	ComposeProject string // com.docker.compose.project label, "" if none
}

// Service is one service of the catalog.
type Service struct {
	// Name is the canonical name.
	Name string
	// Repo is the repo that declares the service; "" for an engine-only one.
	Repo string
	// Aliases are the declared aliases that resolve to this service
	// (canonical; one lost to a conflict is left out).
	Aliases []string
	// Containers are the engine's containers that are this service, by name
	// then ID; names have no leading '/'.
	Containers []Container
	// Unit is the declared systemd unit, "" if none.
	Unit string
	// DependsOn are the canonical names of the declared dependencies, in
	// declaration order. A name no service answers to is kept normalised.
	DependsOn []string
	// Hosts are the declared "host" or "host:port" probes may reach,
	// normalised (see repos.SplitHost).
	Hosts []string
	// Redeploy is the declared redeploy, nil for the engine's default.
	Redeploy *repos.Command
	// Playbooks and Checks are the declared ones.
	Playbooks []repos.PlaybookDecl
	Checks    []repos.CheckDecl
}

// Conflict is a text two services claim. Key resolves to Service; Other's
// claim on it is ignored.
type Conflict struct {
	Key       string // the contested name, alias or container identity, canonical
	Service   string // the service Key resolves to
	Repo      string // Service's repo, "" for an engine-only service
	Other     string // the service whose claim was ignored
	OtherRepo string // Other's repo, "" for an engine-only service
}

func (c Conflict) String() string {
	where := func(svc, repo string) string {
		if repo == "" {
			return fmt.Sprintf("%q (engine)", svc)
		}
		return fmt.Sprintf("%q (repo %s)", svc, repo)
	}
	return fmt.Sprintf("%q is claimed by service %s and service %s; it resolves to the first",
		c.Key, where(c.Service, c.Repo), where(c.Other, c.OtherRepo))
}

// Catalog is the set of services, built by Build; a nil Catalog is empty.
type Catalog struct {
	// Conflicts are the claims that were ignored, in the order found.
	Conflicts []Conflict

	services []*Service          // by name
	byName   map[string]*Service // canonical names
	index    map[string]*Service // every text a service answers to
	ids      []idOwner           // containers by ID, for prefixes
	compose  map[[2]string]*Service
	hosts    []hostOwner
}

type idOwner struct {
	id  string
	svc *Service
}

type hostOwner struct {
	host, port string // port "" matches any
	svc        *Service
}

// Canonical normalises a service label: surrounding spaces and leading '/'
// removed, lowercased. It is the one form of a service name used as a metric
// label or a cooldown key.
func Canonical(name string) string {
	return strings.ToLower(strings.TrimLeft(strings.TrimSpace(name), "/"))
}

// FromInventory returns the declarations of every repo of inv, in repo order.
func FromInventory(inv *repos.Inventory) []Decl {
	if inv == nil {
		return nil
	}
	var decls []Decl
	for _, r := range inv.Repos {
		for _, s := range r.Services {
			decls = append(decls, Decl{Repo: r.Name, Service: s})
		}
	}
	return decls
}

// Build combines the declarations of the repos with the engine's containers.
// decls need not be sorted: they are taken in repo lexical order, keeping
// the order of each repo's file. Declarations are expected to be valid
// (repos.ParseServices); Build tolerates others (ignoring empty names).
func Build(decls []Decl, containers []Container) *Catalog {
	b := &builder{c: &Catalog{
		byName:  map[string]*Service{},
		index:   map[string]*Service{},
		compose: map[[2]string]*Service{},
	}}
	c := b.c

	decls = slices.Clone(decls)
	slices.SortStableFunc(decls, func(x, y Decl) int { return strings.Compare(x.Repo, y.Repo) })
	b.containers = make([]Container, 0, len(containers))
	for _, ct := range containers {
		ct.Name = strings.TrimLeft(strings.TrimSpace(ct.Name), "/")
		ct.ID = strings.ToLower(strings.TrimSpace(ct.ID))
		if ct.Name == "" && ct.ID == "" {
			continue
		}
		b.containers = append(b.containers, ct)
	}
	slices.SortFunc(b.containers, func(x, y Container) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(x.ID, y.ID))
	})
	b.owner = make([]*Service, len(b.containers))

	// Declared services; a name declared again is ignored whole.
	var declared []*declaredService
	for _, d := range decls {
		name := Canonical(d.Service.Name)
		if name == "" {
			continue
		}
		if first, taken := c.byName[name]; taken {
			b.conflict(name, first, &Service{Name: name, Repo: d.Repo})
			continue
		}
		s := &Service{
			Name:      name,
			Repo:      d.Repo,
			Unit:      d.Service.Unit,
			Redeploy:  d.Service.Redeploy,
			Playbooks: d.Service.Playbooks,
			Checks:    d.Service.Checks,
		}
		for _, h := range d.Service.Hosts {
			host, port, err := repos.SplitHost(h)
			if err != nil {
				continue
			}
			s.Hosts = append(s.Hosts, joinHost(host, port))
			c.hosts = append(c.hosts, hostOwner{host, port, s})
		}
		entries := d.Service.Containers
		if len(entries) == 0 {
			entries = []string{name}
		}
		ds := &declaredService{svc: s, aliases: canonicalAll(d.Service.Aliases),
			entries: canonicalAll(entries), deps: d.Service.DependsOn}
		declared = append(declared, ds)
		c.byName[name] = s
		c.services = append(c.services, s)
	}

	// Containers owned by declared services.
	for _, ds := range declared {
		for _, e := range ds.entries {
			b.claimContainers(ds.svc, e)
		}
	}

	// Engine-only services: unowned containers grouped by compose project
	// and service, else alone, named in order of their natural name.
	taken := map[string]bool{}
	for _, ds := range declared {
		taken[ds.svc.Name] = true
		for _, k := range slices.Concat(ds.aliases, ds.entries) {
			taken[k] = true
		}
	}
	type group struct {
		natural, project string
		members          []int
	}
	groups := map[[2]string]*group{}
	var order []*group
	for i, ct := range b.containers {
		if b.owner[i] != nil {
			continue
		}
		key := [2]string{"\x00", Canonical(ct.Name)}
		natural := Canonical(ct.Name)
		if ct.ComposeService != "" {
			key = [2]string{Canonical(ct.ComposeProject), Canonical(ct.ComposeService)}
			natural = key[1]
		}
		if natural == "" { // a container known by ID only
			natural = shortID(ct.ID)
		}
		g := groups[key]
		if g == nil {
			g = &group{natural: natural, project: key[0]}
			groups[key] = g
			order = append(order, g)
		}
		g.members = append(g.members, i)
	}
	slices.SortFunc(order, func(x, y *group) int {
		return cmp.Or(strings.Compare(x.natural, y.natural), strings.Compare(x.project, y.project))
	})
	for _, g := range order {
		candidates := []string{g.natural}
		for _, i := range g.members {
			candidates = append(candidates, Canonical(b.containers[i].Name))
		}
		for _, i := range g.members {
			candidates = append(candidates, shortID(b.containers[i].ID))
		}
		for _, i := range g.members {
			candidates = append(candidates, b.containers[i].ID)
		}
		name := ""
		for _, n := range candidates {
			if n != "" && !taken[n] {
				name = n
				break
			}
		}
		if name == "" { // cannot happen: IDs are unique and longer than any name
			continue
		}
		taken[name] = true
		s := &Service{Name: name}
		for _, i := range g.members {
			b.owner[i] = s
		}
		c.byName[name] = s
		c.services = append(c.services, s)
	}

	// Container lists.
	for i, ct := range b.containers {
		if s := b.owner[i]; s != nil {
			s.Containers = append(s.Containers, ct)
		}
	}

	// The index, by precedence.
	for _, s := range c.services {
		b.claim(s.Name, s)
	}
	for _, ds := range declared {
		for _, a := range ds.aliases {
			if b.claim(a, ds.svc) {
				ds.svc.Aliases = append(ds.svc.Aliases, a)
			}
		}
	}
	for _, ds := range declared {
		for _, e := range ds.entries {
			b.claim(e, ds.svc)
		}
	}
	for _, s := range c.services {
		for _, ct := range s.Containers {
			b.claim(Canonical(ct.Name), s)
			b.claim(ct.ID, s)
			if ct.ComposeService != "" {
				b.claim(Canonical(ct.ComposeService), s)
				pair := [2]string{Canonical(ct.ComposeProject), Canonical(ct.ComposeService)}
				b.claim(pair[0]+"/"+pair[1], s)
				if c.compose[pair] == nil {
					c.compose[pair] = s
				}
			}
			if ct.ID != "" {
				c.ids = append(c.ids, idOwner{ct.ID, s})
			}
		}
	}
	slices.SortFunc(c.ids, func(x, y idOwner) int { return strings.Compare(x.id, y.id) })

	// Dependencies, once every name resolves.
	for _, ds := range declared {
		for _, d := range ds.deps {
			name := Canonical(d)
			if t, ok := c.Resolve(d); ok {
				name = t.Name
			}
			if name != "" && name != ds.svc.Name && !slices.Contains(ds.svc.DependsOn, name) {
				ds.svc.DependsOn = append(ds.svc.DependsOn, name)
			}
		}
	}

	slices.SortFunc(c.services, func(x, y *Service) int { return strings.Compare(x.Name, y.Name) })
	return c
}

type declaredService struct {
	svc              *Service
	aliases, entries []string
	deps             []string
}

type builder struct {
	c          *Catalog
	containers []Container
	owner      []*Service // the owner of each container
	seen       map[Conflict]bool
}

// claim makes key answer to s unless another service has it; it reports
// whether key resolves to s.
func (b *builder) claim(key string, s *Service) bool {
	if key == "" {
		return false
	}
	if first, ok := b.c.index[key]; ok {
		if first != s {
			b.conflict(key, first, s)
		}
		return first == s
	}
	b.c.index[key] = s
	return true
}

func (b *builder) conflict(key string, first, other *Service) {
	cf := Conflict{Key: key, Service: first.Name, Repo: first.Repo, Other: other.Name, OtherRepo: other.Repo}
	if b.seen == nil {
		b.seen = map[Conflict]bool{}
	}
	if b.seen[cf] {
		return
	}
	b.seen[cf] = true
	b.c.Conflicts = append(b.c.Conflicts, cf)
}

// claimContainers gives s the containers a declared entry matches: by
// container name, by compose "project/service", or by compose service, only
// in the first compose project when several have that service.
func (b *builder) claimContainers(s *Service, entry string) {
	var matched []int
	project := ""
	projectSet := false
	for i, ct := range b.containers {
		byName := Canonical(ct.Name) == entry
		svc, proj := Canonical(ct.ComposeService), Canonical(ct.ComposeProject)
		byPair := svc != "" && proj+"/"+svc == entry
		byService := svc != "" && svc == entry
		if byService && !byName && !byPair {
			if !projectSet || proj < project {
				project, projectSet = proj, true
			}
		}
		if byName || byPair || byService {
			matched = append(matched, i)
		}
	}
	for _, i := range matched {
		ct := b.containers[i]
		byName := Canonical(ct.Name) == entry
		proj, svc := Canonical(ct.ComposeProject), Canonical(ct.ComposeService)
		if !byName && proj+"/"+svc != entry && proj != project {
			continue // another project's service of that name
		}
		switch first := b.owner[i]; {
		case first == nil:
			b.owner[i] = s
		case first != s:
			b.conflict(entry, first, s)
		}
	}
}

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

func canonicalAll(list []string) []string {
	var out []string
	for _, x := range list {
		if k := Canonical(x); k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func isHex(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
