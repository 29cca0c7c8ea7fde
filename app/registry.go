package app

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// registry is the daemon's registry; it also remembers the name of every
// metric family registered, so that a test can see which families have no
// series yet (a counter's first increment is then invisible to increase()).
type registry struct {
	*prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

func newRegistry() *registry {
	return &registry{Registry: prometheus.NewRegistry(), names: map[string]bool{}}
}

func (r *registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc)
	go func() { c.Describe(descs); close(descs) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range descs {
		r.names[descName(d)] = true
	}
	return nil
}

func (r *registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// descName is the fully-qualified name of d. Desc keeps it unexported; its
// String starts with it: Desc{fqName: "name", ...}.
func descName(d *prometheus.Desc) string {
	s := d.String()
	const pre = `Desc{fqName: "`
	if len(s) < len(pre) || s[:len(pre)] != pre {
		return s
	}
	s = s[len(pre):]
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return s[:i]
		}
	}
	return s
}
