package actions

import (
	"time"
)

// DefaultLimits are docs/SPEC.md's defaults.
var DefaultLimits = Limits{
	MaxRestarts: 2, RestartWindow: 4 * time.Hour, MaxRedeploys: 1, RedeployWindow: 24 * time.Hour,
	MaxServices: 5, BlastWindow: time.Hour,
}
