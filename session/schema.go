package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The structured results of SPEC.md §3. The same JSON text goes to the CLI with
// --json-schema and validates the result in Go, so the two can never disagree.

const tier1Schema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["summary", "services"],
  "properties": {
    "summary": {"type": "string", "maxLength": 2000},
    "services": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "checks"],
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 200},
          "checks": {
            "type": "array",
            "items": {
              "type": "object",
              "additionalProperties": false,
              "required": ["name", "type", "status", "latency_ms", "detail"],
              "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "type": {"enum": ["http", "dns", "container", "database", "service", "custom"]},
                "status": {"enum": ["ok", "degraded", "down", "unknown"]},
                "latency_ms": {"type": "number", "minimum": 0},
                "detail": {"type": "string", "maxLength": 2000}
              }
            }
          },
          "probes": {
            "type": "array",
            "items": {
              "type": "object",
              "additionalProperties": false,
              "required": ["name", "type"],
              "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "type": {"enum": ["http", "tcp", "dns", "container", "declared_check", "prometheus"]},
                "timeout_seconds": {"type": "number", "minimum": 0},
                "http": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["url"],
                  "properties": {
                    "url": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "method": {"enum": ["GET", "HEAD"]},
                    "valid_status_codes": {"type": "array", "items": {"type": "integer"}},
                    "body_regexp": {"type": "string", "maxLength": 1000}
                  }
                },
                "tcp": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["target"],
                  "properties": {"target": {"type": "string", "minLength": 1, "maxLength": 300}}
                },
                "dns": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["name"],
                  "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 300},
                    "type": {"enum": ["A", "AAAA", "CNAME", "MX", "NS", "SRV", "TXT"]}
                  }
                },
                "container": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["service"],
                  "properties": {"service": {"type": "string", "minLength": 1, "maxLength": 200}}
                },
                "declared_check": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["service", "check"],
                  "properties": {
                    "service": {"type": "string", "minLength": 1, "maxLength": 200},
                    "check": {"type": "string", "minLength": 1, "maxLength": 200}
                  }
                },
                "prometheus": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["expr"],
                  "properties": {"expr": {"type": "string", "minLength": 1, "maxLength": 2000}}
                }
              }
            }
          },
          "unplanned": {
            "type": "array",
            "items": {
              "type": "object",
              "additionalProperties": false,
              "required": ["check", "reason"],
              "properties": {
                "check": {"type": "string", "minLength": 1, "maxLength": 200},
                "reason": {"type": "string", "maxLength": 1000}
              }
            }
          }
        }
      }
    }
  }
}`

const remediationSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["summary", "outcome", "actions", "findings"],
  "properties": {
    "summary": {"type": "string", "maxLength": 2000},
    "outcome": {"enum": ["fixed", "not_fixed", "needs_human"]},
    "actions": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["service", "action", "target", "result"],
        "properties": {
          "service": {"type": "string", "maxLength": 200},
          "action": {"enum": ["restart", "redeploy", "rotate_key", "other"]},
          "target": {"type": "string", "maxLength": 500},
          "result": {"type": "string", "maxLength": 2000}
        }
      }
    },
    "findings": {"type": "string", "maxLength": 8000},
    "memories": {
      "description": "Optional: what you learned about a service that would help the next session about it (a cause, a symptom, a fix that works or does not). Scored later by whether the incident's fix was confirmed. Never a secret.",
      "type": "array",
      "maxItems": 5,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["service", "observation", "confidence"],
        "properties": {
          "service": {"type": "string", "minLength": 1, "maxLength": 200},
          "observation": {"type": "string", "minLength": 1, "maxLength": 500},
          "confidence": {"type": "number", "minimum": 0, "maximum": 1}
        }
      }
    }
  }
}`

// Check is one check of a Tier 1 result.
type Check struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Detail    string  `json:"detail"`
}

// Service is one discovered service of a Tier 1 result. Checks are what the
// model measured itself (the check mode); Probes and Unplanned are the
// service's part of the probe plan (the plan mode, package probes).
type Service struct {
	Name      string      `json:"name"`
	Checks    []Check     `json:"checks"`
	Probes    []Probe     `json:"probes,omitempty"`
	Unplanned []Unplanned `json:"unplanned,omitempty"`
}

// ProbeType is the kind of a planned probe; it is the type label of the
// probe's check series.
type ProbeType string

// The probe types of the plan.
const (
	ProbeTypeHTTP          ProbeType = "http"
	ProbeTypeTCP           ProbeType = "tcp"
	ProbeTypeDNS           ProbeType = "dns"
	ProbeTypeContainer     ProbeType = "container"
	ProbeTypeDeclaredCheck ProbeType = "declared_check"
	ProbeTypePrometheus    ProbeType = "prometheus"
)

// ProbeTypes are every ProbeType, in schema order.
var ProbeTypes = []ProbeType{ProbeTypeHTTP, ProbeTypeTCP, ProbeTypeDNS, ProbeTypeContainer, ProbeTypeDeclaredCheck, ProbeTypePrometheus}

// Probe is one probe Tier 1 plans for a service: the daemon runs it every
// probe interval. Exactly the field named by Type is set.
type Probe struct {
	// Name is the check label of the probe's series, stable across plans.
	Name string    `json:"name"`
	Type ProbeType `json:"type"`
	// TimeoutSeconds bounds one run; 0 means the daemon's default.
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`

	HTTP          *HTTPProbeSpec     `json:"http,omitempty"`
	TCP           *TCPProbeSpec      `json:"tcp,omitempty"`
	DNS           *DNSProbeSpec      `json:"dns,omitempty"`
	Container     *ServiceProbeSpec  `json:"container,omitempty"`
	DeclaredCheck *DeclaredCheckSpec `json:"declared_check,omitempty"`
	Prometheus    *PromQLProbeSpec   `json:"prometheus,omitempty"`
}

// HTTPProbeSpec is an http probe: the answer's status must be one of
// ValidStatusCodes (default 2xx) and, when set, the body must match
// BodyRegexp (RE2). Redirects are not followed.
type HTTPProbeSpec struct {
	URL              string `json:"url"`
	Method           string `json:"method,omitempty"` // GET (default) or HEAD
	ValidStatusCodes []int  `json:"valid_status_codes,omitempty"`
	BodyRegexp       string `json:"body_regexp,omitempty"`
}

// TCPProbeSpec is a tcp probe: a connection to Target ("host:port") opens.
type TCPProbeSpec struct {
	Target string `json:"target"`
}

// DNSProbeSpec is a dns probe: Name resolves (rcode NOERROR, at least one
// answer of Type, default A).
type DNSProbeSpec struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// ServiceProbeSpec names a service of the catalog (a container probe: every
// container of the service runs and none is unhealthy).
type ServiceProbeSpec struct {
	Service string `json:"service"`
}

// DeclaredCheckSpec names a check a repo's services.yaml declares for a
// service; the check passes when its command exits 0.
type DeclaredCheckSpec struct {
	Service string `json:"service"`
	Check   string `json:"check"`
}

// PromQLProbeSpec is a prometheus probe: Expr, queried at --prometheus.url,
// must return nothing or only zeros.
type PromQLProbeSpec struct {
	Expr string `json:"expr"`
}

// Unplanned is a check (a repo's .claude-ops/checks/*.md, or a declared
// check) the model could not turn into a probe, with why.
type Unplanned struct {
	Check  string `json:"check"`
	Reason string `json:"reason"`
}

// Tier1Result is Tier 1's structured output.
type Tier1Result struct {
	Summary  string    `json:"summary"`
	Services []Service `json:"services"`
}

// Healthy reports whether every check is ok.
func (r *Tier1Result) Healthy() bool {
	for _, s := range r.Services {
		for _, c := range s.Checks {
			if c.Status != "ok" {
				return false
			}
		}
	}
	return true
}

// RemediationAction is an action a Tier 2 or 3 session reports.
type RemediationAction struct {
	Service string `json:"service"`
	Action  string `json:"action"`
	Target  string `json:"target"`
	Result  string `json:"result"`
}

// RemediationResult is the structured output of Tier 2 and Tier 3.
type RemediationResult struct {
	Summary  string              `json:"summary"`
	Outcome  string              `json:"outcome"` // fixed, not_fixed, needs_human
	Actions  []RemediationAction `json:"actions"`
	Findings string              `json:"findings"`
	// Memories are what the session learned about services, for the next
	// sessions about them (package memory); optional.
	Memories []Memory `json:"memories,omitempty"`
}

// Limits of RemediationResult.Memories (the schema's).
const (
	MaxMemories          = 5
	MaxMemoryObservation = 500 // characters
)

// Memory is one thing a Tier 2 or 3 session learned about a service.
type Memory struct {
	Service     string  `json:"service"`
	Observation string  `json:"observation"`
	Confidence  float64 `json:"confidence"` // 0 to 1
}

// Schema returns the --json-schema text of a tier.
func Schema(t Tier) string {
	if t == Tier1 {
		return tier1Schema
	}
	return remediationSchema
}

var (
	compileOnce sync.Once
	compiled    map[Tier]*jsonschema.Schema
	compileErr  error
)

func schemas() (map[Tier]*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		c := jsonschema.NewCompiler()
		compiled = map[Tier]*jsonschema.Schema{}
		for _, t := range []Tier{Tier1, Tier2} {
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(Schema(t))))
			if err != nil {
				compileErr = err
				return
			}
			url := fmt.Sprintf("mem://tier%d.json", t)
			if err := c.AddResource(url, doc); err != nil {
				compileErr = err
				return
			}
			if compiled[t], err = c.Compile(url); err != nil {
				compileErr = err
				return
			}
		}
		compiled[Tier3] = compiled[Tier2]
	})
	return compiled, compileErr
}

// Validate checks a structured output against its tier's schema.
func Validate(t Tier, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("no structured_output in the result")
	}
	s, err := schemas()
	if err != nil {
		return fmt.Errorf("compile schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("structured_output is not JSON: %w", err)
	}
	if err := s[t].Validate(doc); err != nil {
		return fmt.Errorf("structured_output breaks the tier %d schema: %w", t, err)
	}
	return nil
}

// ParseTier1 validates and decodes a Tier 1 structured output.
func ParseTier1(raw json.RawMessage) (*Tier1Result, error) {
	if err := Validate(Tier1, raw); err != nil {
		return nil, err
	}
	var r Tier1Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParseRemediation validates and decodes a Tier 2 or 3 structured output.
func ParseRemediation(t Tier, raw json.RawMessage) (*RemediationResult, error) {
	if err := Validate(t, raw); err != nil {
		return nil, err
	}
	var r RemediationResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// OutcomeFor maps a valid structured output to the session's outcome.
func OutcomeFor(t Tier, raw json.RawMessage) (Outcome, error) {
	if t == Tier1 {
		r, err := ParseTier1(raw)
		if err != nil {
			return OutcomeError, err
		}
		if r.Healthy() {
			return OutcomeHealthy, nil
		}
		return OutcomeIssuesFound, nil
	}
	r, err := ParseRemediation(t, raw)
	if err != nil {
		return OutcomeError, err
	}
	switch r.Outcome {
	case "fixed":
		return OutcomeRemediated, nil
	case "needs_human":
		return OutcomeNeedsHuman, nil
	default:
		return OutcomeNotFixed, nil
	}
}
