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
	"fmt"
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
