package services

import (
	"cmp"
	"slices"
	"strings"

	"github.com/claude-ops/claude-ops/repos"
)

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
