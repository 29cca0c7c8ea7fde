package app

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/claude-ops/claude-ops/services"
)

// serviceNames names the service an alert means as the action chain does:
// through the catalog, so that an alert on a container alias (web-1, /web,
// a short ID) joins the incident of its service. The remediator asks for
// every alert inside its loop, so the catalog is rebuilt in the background
// every refresh, never on the alert's path; a container younger than that
// resolves by its own name until then.
type serviceNames struct {
	catalog func(context.Context) (*services.Catalog, error)
	refresh time.Duration
	cur     atomic.Pointer[services.Catalog]
}

const serviceNamesRefresh = 15 * time.Second

// Canonical is the catalog's name of the service name denotes, else name
// spelled as services.Canonical spells it.
func (n *serviceNames) Canonical(name string) string {
	if s, ok := n.cur.Load().Resolve(name); ok {
		return s.Name
	}
	return services.Canonical(name)
}

func (n *serviceNames) update(ctx context.Context) {
	if cat, _ := n.catalog(ctx); cat != nil {
		n.cur.Store(cat)
	}
}

// Run rebuilds the catalog every refresh until ctx is done.
func (n *serviceNames) Run(ctx context.Context) error {
	t := time.NewTicker(n.refresh)
	defer t.Stop()
	for {
		n.update(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
