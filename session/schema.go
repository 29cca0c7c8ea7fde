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
    "findings": {"type": "string", "maxLength": 8000}
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

// Service is one discovered service of a Tier 1 result.
type Service struct {
	Name   string  `json:"name"`
	Checks []Check `json:"checks"`
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
