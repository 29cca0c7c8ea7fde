package gate

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Tool labels of claudeops_gate_refusals_total (bounded).
const (
	toolBash  = "Bash"
	toolEdit  = "Edit"
	toolWrite = "Write"
	toolMCP   = "mcp"
	toolOther = "other"
)

// metrics are the gate's series.
type metrics struct {
	refusals *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{refusals: f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "claudeops",
		Name:      "gate_refusals_total",
		Help:      "Tool calls refused by the action gate, by tool (Bash, Edit, Write, mcp, other) and result.",
	}, []string{"tool", "result"})}
	for _, t := range []string{toolBash, toolEdit, toolWrite, toolMCP, toolOther} {
		for _, r := range []string{ResultRefusedNever, ResultRefusedUntyped} {
			m.refusals.WithLabelValues(t, r)
		}
	}
	return m
}

// toolLabel maps a tool name to its bounded metric label.
func toolLabel(tool string) string {
	switch tool {
	case "Bash":
		return toolBash
	case "Edit", "MultiEdit", "NotebookEdit":
		return toolEdit
	case "Write":
		return toolWrite
	}
	if strings.HasPrefix(tool, "mcp__") {
		return toolMCP
	}
	return toolOther
}
