package app

import (
	"context"
	"testing"

	"github.com/claude-ops/claude-ops/repos"
	"github.com/claude-ops/claude-ops/services"
)

// TestServiceNames: every name of a service (alias, container name, short
// ID, compose name) is the service's name for the incident; an unknown name
// is itself, canonically spelled; nothing is known before the first build.
func TestServiceNames(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cat := services.Build(
		[]services.Decl{{Repo: "shop", Service: repos.ServiceDecl{Name: "web", Aliases: []string{"frontend"}}}},
		[]services.Container{{ID: id, Name: "shop-web-1", ComposeService: "web", ComposeProject: "shop"}},
	)
	n := &serviceNames{catalog: func(context.Context) (*services.Catalog, error) { return cat, nil }}
	if got := n.Canonical("shop-web-1"); got != "shop-web-1" {
		t.Errorf("before the first build: %q, want the name itself", got)
	}
	n.update(context.Background())
	for _, name := range []string{"web", "Web", "frontend", "/shop-web-1", "shop-web-1", id[:12], id} {
		if got := n.Canonical(name); got != "web" {
			t.Errorf("Canonical(%q) = %q, want web", name, got)
		}
	}
	if got := n.Canonical("Payments"); got != "payments" {
		t.Errorf("unknown service: %q, want payments", got)
	}
}
