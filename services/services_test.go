package services

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/claude-ops/claude-ops/repos"
)

// id makes a 64-hex-digit container ID starting with prefix.
func id(prefix string) string { return prefix + strings.Repeat("0", 64-len(prefix)) }

var (
	webID   = id("abcdef0123456789")
	dbID    = id("0123456789ab")
	redisID = id("feedface")
	cacheID = id("cafe01")
)

// shop is a repo declaring web (found by its compose service) and db (by its
// container name), with an engine-only redis and a compose cache.
func shop() ([]Decl, []Container) {
	decls := []Decl{
		{Repo: "shop", Service: repos.ServiceDecl{
			Name:      "web",
			Aliases:   []string{"frontend"},
			DependsOn: []string{"postgres"}, // db's alias
			Hosts:     []string{"web.internal:8080", "Status.Example.com"},
			Playbooks: []repos.PlaybookDecl{{Name: "flush-cache", MinTier: 2, Cooldown: repos.CooldownRestart,
				Command: repos.Command{Argv: []string{"/usr/local/bin/flush-cache"}, Timeout: model.Duration(30 * time.Second)}}},
		}},
		{Repo: "shop", Service: repos.ServiceDecl{
			Name:       "db",
			Aliases:    []string{"postgres"},
			Containers: []string{"shop-db"},
			Unit:       "postgresql.service",
			DependsOn:  []string{"storage"},
			Hosts:      []string{"db.internal"},
		}},
		{Repo: "shop", Service: repos.ServiceDecl{Name: "storage", Unit: "nfs-server.service"}},
	}
	containers := []Container{
		{ID: webID, Name: "/shop-web-1", ComposeService: "web", ComposeProject: "shop"},
		{ID: dbID, Name: "/shop-db", ComposeService: "database", ComposeProject: "shop"},
		{ID: redisID, Name: "/redis"},
		{ID: cacheID, Name: "/shop-cache-1", ComposeService: "cache", ComposeProject: "shop"},
	}
	return decls, containers
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"web":      "web",
		"/web":     "web",
		" /Web \n": "web",
		"//web":    "web",
		"Shop-Web": "shop-web",
		"":         "",
		" / ":      "",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	c := Build(shop())
	for _, tc := range []struct{ alias, want string }{
		// One service, whatever the model calls it (docker restart /web, ...).
		{"web", "web"},
		{"/web", "web"},
		{"WEB", "web"},
		{" web ", "web"},
		{"frontend", "web"},
		{"shop-web-1", "web"},
		{"/shop-web-1", "web"},
		{"shop_web_1", "web"}, // compose v1 name
		{"shop-web-2", "web"}, // another replica
		{webID, "web"},
		{strings.ToUpper(webID), "web"},
		{webID[:12], "web"}, // short ID
		{webID[:20], "web"},
		{"shop/web", "web"},
		// db: declared by container name; its compose service is "database".
		{"db", "db"},
		{"postgres", "db"},
		{"shop-db", "db"},
		{"database", "db"},
		{dbID[:12], "db"},
		{"shop-database-1", "db"},
		// Engine-only services.
		{"redis", "redis"},
		{"/redis", "redis"},
		{redisID[:12], "redis"},
		{"cache", "cache"},
		{"shop-cache-1", "cache"},
		{"shop_cache_3", "cache"},
		// A declared service without a container.
		{"storage", "storage"},
		// Unknown.
		{"nope", ""},
		{"", ""},
		{"/", ""},
		{webID[:11], ""},      // too short for a prefix
		{"abcdef012345x", ""}, // not hex
		{"shop-web", ""},      // no replica number
		{"blog-web-1", ""},    // no such project
		{"web-1", ""},
		{"shop-web-x", ""},
	} {
		s, ok := c.Resolve(tc.alias)
		got := ""
		if ok {
			got = s.Name
		}
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.alias, got, ok, tc.want)
		}
	}
	if len(c.Conflicts) != 0 {
		t.Errorf("conflicts = %v", c.Conflicts)
	}
}

func TestServices(t *testing.T) {
	c := Build(shop())
	if got, want := c.Names(), []string{"cache", "db", "redis", "storage", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	web, _ := c.Resolve("web")
	want := &Service{
		Name:       "web",
		Repo:       "shop",
		Aliases:    []string{"frontend"},
		Containers: []Container{{ID: webID, Name: "shop-web-1", ComposeService: "web", ComposeProject: "shop"}},
		DependsOn:  []string{"db"}, // declared as its alias postgres
		Hosts:      []string{"web.internal:8080", "status.example.com"},
		Playbooks:  web.Playbooks,
	}
	if len(web.Playbooks) != 1 || web.Playbooks[0].Name != "flush-cache" {
		t.Errorf("playbooks = %+v", web.Playbooks)
	}
	if !reflect.DeepEqual(web, want) {
		t.Errorf("web = %+v\nwant  %+v", web, want)
	}
	db, _ := c.Resolve("db")
	if db.Unit != "postgresql.service" || !reflect.DeepEqual(db.DependsOn, []string{"storage"}) ||
		len(db.Containers) != 1 || db.Containers[0].Name != "shop-db" {
		t.Errorf("db = %+v", db)
	}
	redis, _ := c.Resolve("redis")
	if redis.Repo != "" || len(redis.Containers) != 1 || redis.Containers[0].ID != redisID {
		t.Errorf("redis = %+v", redis)
	}
	storage, _ := c.Resolve("storage")
	if storage.Containers != nil || storage.Unit != "nfs-server.service" {
		t.Errorf("storage = %+v", storage)
	}
	all := c.Services()
	if len(all) != 5 || all[0].Name != "cache" || all[4].Name != "web" {
		t.Errorf("Services = %v", all)
	}
}

func TestEngineOnlyNames(t *testing.T) {
	c := Build(nil, []Container{
		{ID: id("01"), Name: "/Grafana"},
		{ID: id("02"), Name: "mon-prometheus-1", ComposeService: "prometheus", ComposeProject: "mon"},
		{ID: id("03"), Name: "mon-prometheus-2", ComposeService: "prometheus", ComposeProject: "mon"},
		{ID: id("04"), Name: "custom-name", ComposeService: "alertmanager", ComposeProject: "mon"},
		{ID: id("05")}, // no name
		{},             // nothing: ignored
	})
	want := []string{id("05")[:12], "alertmanager", "grafana", "prometheus"}
	if got := c.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	p, _ := c.Resolve("mon-prometheus-2")
	if p.Name != "prometheus" || len(p.Containers) != 2 {
		t.Errorf("prometheus = %+v", p)
	}
	if s, _ := c.Resolve("custom-name"); s == nil || s.Name != "alertmanager" {
		t.Errorf("custom-name resolves to %+v", s)
	}
	if s, _ := c.Resolve("mon-alertmanager-1"); s == nil || s.Name != "alertmanager" {
		t.Errorf("mon-alertmanager-1 resolves to %+v", s)
	}
	if len(c.Conflicts) != 0 {
		t.Errorf("conflicts = %v", c.Conflicts)
	}
}

func TestConflicts(t *testing.T) {
	decl := func(repo, name string, f func(*repos.ServiceDecl)) Decl {
		d := Decl{Repo: repo, Service: repos.ServiceDecl{Name: name}}
		if f != nil {
			f(&d.Service)
		}
		return d
	}
	for _, tc := range []struct {
		name       string
		decls      []Decl
		containers []Container
		resolve    map[string]string // alias → service ("" = none)
		names      []string
		conflicts  []Conflict
	}{
		{
			name: "same name in two repos: the first repo wins, the other is ignored whole",
			decls: []Decl{ // not in repo order
				decl("zeta", "web", func(s *repos.ServiceDecl) { s.Aliases = []string{"www", "zonly"}; s.Unit = "z.service" }),
				decl("alpha", "web", func(s *repos.ServiceDecl) { s.Aliases = []string{"www"}; s.Unit = "a.service" }),
			},
			resolve:   map[string]string{"web": "web", "www": "web", "zonly": ""},
			names:     []string{"web"},
			conflicts: []Conflict{{Key: "web", Service: "web", Repo: "alpha", Other: "web", OtherRepo: "zeta"}},
		},
		{
			name: "one alias, two services",
			decls: []Decl{
				decl("b", "proxy", func(s *repos.ServiceDecl) { s.Aliases = []string{"gateway"} }),
				decl("a", "api", func(s *repos.ServiceDecl) { s.Aliases = []string{"gateway"} }),
			},
			resolve:   map[string]string{"gateway": "api", "proxy": "proxy"},
			names:     []string{"api", "proxy"},
			conflicts: []Conflict{{Key: "gateway", Service: "api", Repo: "a", Other: "proxy", OtherRepo: "b"}},
		},
		{
			name: "a name beats an earlier repo's alias",
			decls: []Decl{
				decl("a", "api", func(s *repos.ServiceDecl) { s.Aliases = []string{"web"} }),
				decl("b", "web", nil),
			},
			resolve:   map[string]string{"web": "web", "api": "api"},
			names:     []string{"api", "web"},
			conflicts: []Conflict{{Key: "web", Service: "web", Repo: "b", Other: "api", OtherRepo: "a"}},
		},
		{
			name: "a container two repos claim",
			decls: []Decl{
				decl("a", "api", func(s *repos.ServiceDecl) { s.Containers = []string{"shared-1"} }),
				decl("b", "worker", func(s *repos.ServiceDecl) { s.Containers = []string{"shared-1", "worker"} }),
			},
			containers: []Container{{ID: id("aa"), Name: "shared-1"}},
			resolve:    map[string]string{"shared-1": "api", id("aa"): "api", "worker": "worker"},
			names:      []string{"api", "worker"},
			conflicts:  []Conflict{{Key: "shared-1", Service: "api", Repo: "a", Other: "worker", OtherRepo: "b"}},
		},
		{
			name: "a compose service two projects share, no manifest",
			containers: []Container{
				{ID: id("b1"), Name: "shop-web-1", ComposeService: "web", ComposeProject: "shop"},
				{ID: id("b2"), Name: "blog-web-1", ComposeService: "web", ComposeProject: "blog"},
			},
			resolve: map[string]string{"web": "web", "blog-web-1": "web", "shop-web-1": "shop-web-1",
				"shop_web_2": "shop-web-1", "shop/web": "shop-web-1", id("b1")[:12]: "shop-web-1"},
			names:     []string{"shop-web-1", "web"},
			conflicts: []Conflict{{Key: "web", Service: "web", Other: "shop-web-1"}},
		},
		{
			name:  "a declared compose service two projects share",
			decls: []Decl{decl("a", "web", nil)},
			containers: []Container{
				{ID: id("c1"), Name: "shop-web-1", ComposeService: "web", ComposeProject: "shop"},
				{ID: id("c2"), Name: "blog-web-1", ComposeService: "web", ComposeProject: "blog"},
				{ID: id("c3"), Name: "blog-web-2", ComposeService: "web", ComposeProject: "blog"},
			},
			resolve:   map[string]string{"web": "web", "blog-web-2": "web", "shop-web-1": "shop-web-1"},
			names:     []string{"shop-web-1", "web"},
			conflicts: []Conflict{{Key: "web", Service: "web", Repo: "a", Other: "shop-web-1"}},
		},
		{
			name:  "project/service picks the project",
			decls: []Decl{decl("a", "web", func(s *repos.ServiceDecl) { s.Containers = []string{"shop/web"} })},
			containers: []Container{
				{ID: id("d1"), Name: "shop-web-1", ComposeService: "web", ComposeProject: "shop"},
				{ID: id("d2"), Name: "blog-web-1", ComposeService: "web", ComposeProject: "blog"},
			},
			resolve:   map[string]string{"web": "web", "shop-web-1": "web", "blog-web-1": "blog-web-1", "blog/web": "blog-web-1"},
			names:     []string{"blog-web-1", "web"},
			conflicts: []Conflict{{Key: "web", Service: "web", Repo: "a", Other: "blog-web-1"}},
		},
		{
			name:       "an alias shadows a container's name",
			decls:      []Decl{decl("a", "web", func(s *repos.ServiceDecl) { s.Aliases = []string{"proxy"} })},
			containers: []Container{{ID: id("e1"), Name: "proxy"}},
			resolve:    map[string]string{"proxy": "web", id("e1"): id("e1")[:12]},
			names:      []string{id("e1")[:12], "web"},
			conflicts:  []Conflict{{Key: "proxy", Service: "web", Repo: "a", Other: id("e1")[:12]}},
		},
		{
			name: "an ID prefix two services share",
			containers: []Container{
				{ID: id("1234567890ab1"), Name: "one"},
				{ID: id("1234567890ab2"), Name: "two"},
			},
			resolve: map[string]string{"1234567890ab": "", "1234567890ab1": "one", "1234567890ab2": "two"},
			names:   []string{"one", "two"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Build(tc.decls, tc.containers)
			for alias, want := range tc.resolve {
				s, ok := c.Resolve(alias)
				got := ""
				if ok {
					got = s.Name
				}
				if got != want {
					t.Errorf("Resolve(%q) = %q, want %q", alias, got, want)
				}
			}
			if got := c.Names(); !reflect.DeepEqual(got, tc.names) {
				t.Errorf("Names = %v, want %v", got, tc.names)
			}
			if !reflect.DeepEqual(c.Conflicts, tc.conflicts) {
				t.Errorf("Conflicts = %+v\nwant        %+v", c.Conflicts, tc.conflicts)
			}
			// The same inputs in another order build the same catalog.
			r := Build(reversed(tc.decls), reversed(tc.containers))
			if !reflect.DeepEqual(r.Names(), c.Names()) || !reflect.DeepEqual(r.Conflicts, c.Conflicts) {
				t.Errorf("reversed inputs: names %v conflicts %+v", r.Names(), r.Conflicts)
			}
		})
	}
}

// reversed reverses the repos' order but keeps each repo's declarations in
// file order.
func reversed[T any](in []T) []T {
	out := slices.Clone(in)
	if ds, ok := any(out).([]Decl); ok {
		slices.SortStableFunc(ds, func(x, y Decl) int { return strings.Compare(y.Repo, x.Repo) })
		return out
	}
	slices.Reverse(out)
	return out
}

func TestConflictString(t *testing.T) {
	c := Conflict{Key: "web", Service: "web", Repo: "a", Other: "shop-web-1"}
	want := `"web" is claimed by service "web" (repo a) and service "shop-web-1" (engine); it resolves to the first`
	if c.String() != want {
		t.Errorf("String = %s", c)
	}
}

func TestInScope(t *testing.T) {
	c := Build(shop())
	get := func(name string) *Service {
		s, ok := c.Resolve(name)
		if !ok {
			t.Fatalf("%s does not resolve", name)
		}
		return s
	}
	for _, tc := range []struct {
		alerted, target string
		want            bool
	}{
		{"web", "web", true},
		{"frontend", "web", true},  // alerted by alias
		{"shop-web-1", "db", true}, // web depends_on db (declared as postgres)
		{"web", "storage", false},  // db depends on storage: not transitive
		{"db", "storage", true},
		{"db", "web", false}, // dependencies are one way
		{"web", "redis", false},
		{"redis", "redis", true}, // an engine-only service is its own scope
		{"nope", "web", false},
		{"", "web", false},
	} {
		if got := c.InScope(tc.alerted, get(tc.target)); got != tc.want {
			t.Errorf("InScope(%q, %q) = %v, want %v", tc.alerted, tc.target, got, tc.want)
		}
	}
	if c.InScope("web", nil) {
		t.Error("InScope of a nil target")
	}
}

func TestDependsOnUnknownKept(t *testing.T) {
	c := Build([]Decl{{Repo: "a", Service: repos.ServiceDecl{Name: "web", DependsOn: []string{"Later", "later", "web"}}}}, nil)
	web, _ := c.Resolve("web")
	if !reflect.DeepEqual(web.DependsOn, []string{"later"}) {
		t.Errorf("DependsOn = %v", web.DependsOn)
	}
}

func TestHostAllowed(t *testing.T) {
	decls, containers := shop()
	decls = append(decls, Decl{Repo: "zz", Service: repos.ServiceDecl{Name: "other", Hosts: []string{"web.internal", "10.0.0.1:9100", "[::1]:80"}}})
	c := Build(decls, containers)
	for _, tc := range []struct{ hostport, want string }{
		{"web.internal:8080", "web"},   // the declared port
		{"WEB.internal:8080", "web"},   // case
		{"web.internal:9999", "other"}, // other declares the host without a port
		{"web.internal", "other"},
		{"status.example.com:443", "web"}, // declared without port: any port
		{"status.example.com", "web"},
		{"db.internal:5432", "db"},
		{"10.0.0.1:9100", "other"},
		{"10.0.0.1:9101", ""},
		{"10.0.0.1", ""}, // declared with a port only
		{"[::1]:80", "other"},
		{"evil.example.com", ""},
		{"web.internal.evil.com", ""},
		{"user@web.internal:8080", ""},
		{"", ""},
	} {
		got, ok := c.HostAllowed(tc.hostport)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("HostAllowed(%q) = %q, %v; want %q", tc.hostport, got, ok, tc.want)
		}
	}
}

func TestNilCatalog(t *testing.T) {
	var c *Catalog
	if _, ok := c.Resolve("web"); ok {
		t.Error("nil catalog resolves")
	}
	if c.Names() != nil || c.Services() != nil || c.InScope("web", &Service{Name: "web"}) {
		t.Error("nil catalog is not empty")
	}
	if _, ok := c.HostAllowed("web:80"); ok {
		t.Error("nil catalog allows a host")
	}
	if got := Build(nil, nil).Names(); len(got) != 0 {
		t.Errorf("empty catalog names = %v", got)
	}
}

func TestFromInventory(t *testing.T) {
	inv := &repos.Inventory{Repos: []repos.Repo{
		{Name: "a", Services: []repos.ServiceDecl{{Name: "web"}, {Name: "db"}}},
		{Name: "b"},
		{Name: "c", Services: []repos.ServiceDecl{{Name: "cache"}}},
	}}
	got := FromInventory(inv)
	want := []Decl{
		{Repo: "a", Service: repos.ServiceDecl{Name: "web"}},
		{Repo: "a", Service: repos.ServiceDecl{Name: "db"}},
		{Repo: "c", Service: repos.ServiceDecl{Name: "cache"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromInventory = %+v", got)
	}
	if FromInventory(nil) != nil {
		t.Error("FromInventory(nil)")
	}
}

func TestURL(t *testing.T) {
	cat := Build([]Decl{{Repo: "r", Service: repos.ServiceDecl{Name: "web", Hosts: []string{"web.internal:8080", "status.example.com"}}}}, nil)
	for _, tc := range []struct{ raw, hostport, err string }{
		{"http://web.internal:8080/health", "web.internal:8080", ""},
		{"https://status.example.com/", "status.example.com:443", ""},
		{"http://web.internal/", "", "web.internal:80 is not a host of the inventory"},
		{"http://169.254.169.254/latest", "", "is not a host of the inventory"},
		{"http://u:p@web.internal:8080/", "", "url has credentials"},
		{"file:///etc/shadow", "", "only http and https"},
		{"http:///x", "", "has no host"},
		{"http://[::1", "", "is not a URL"},
	} {
		got, err := cat.URL(tc.raw)
		if tc.err == "" {
			if err != nil || got != tc.hostport {
				t.Errorf("URL(%q) = %q, %v; want %q", tc.raw, got, err, tc.hostport)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("URL(%q) error = %v, want %q", tc.raw, err, tc.err)
		}
	}
}
