package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/claude-ops/claude-ops/session"
)

// Event is one readable event of a session: what a person reads of its
// transcript. The transcript is the CLI's stream-json, redacted as it was
// written; the typed actions and their decisions come from the session's
// record, placed after the tool result they answered.
type Event struct {
	// Seq numbers the events of a session from 1, the same on every read:
	// the SSE event id.
	Seq int `json:"seq"`
	// Kind is start, text, tool_call, tool_result, action, notice, result
	// or outcome.
	Kind string `json:"kind"`
	// Text: the assistant's text; a tool result's content; a notice; the
	// result's final message.
	Text string `json:"text,omitempty"`
	// Tool and ToolID name the tool of a call or a result; Input is the
	// call's input as compact JSON.
	Tool    string `json:"tool,omitempty"`
	ToolID  string `json:"tool_use_id,omitempty"`
	Input   string `json:"input,omitempty"`
	IsError bool   `json:"is_error,omitempty"`
	// Action is a typed action (or a command the gate refused) and its
	// decision.
	Action *session.Action `json:"action,omitempty"`
	// Start: the session's tier, model, trigger and incident.
	Tier       session.Tier    `json:"tier,omitempty"`
	Model      string          `json:"model,omitempty"`
	Trigger    session.Trigger `json:"trigger,omitempty"`
	IncidentID string          `json:"incident_id,omitempty"`
	// Result: the CLI's result line. Outcome: the session's end.
	Subtype string          `json:"subtype,omitempty"`
	Turns   int             `json:"turns,omitempty"`
	CostUSD float64         `json:"cost_usd,omitempty"`
	Output  json.RawMessage `json:"structured_output,omitempty"`
	Outcome session.Outcome `json:"outcome,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	// Session is the final record (outcome only), durations in seconds.
	Session *Record `json:"session,omitempty"`
}

// Limits of what one event carries; the JSON transcript has everything.
const (
	maxEventText  = 16 << 10
	maxEventInput = 8 << 10
)

// opsPrefix is the CLI's name prefix of the daemon's typed tools.
const opsPrefix = "mcp__ops__"

// actionOfTool maps a typed tool to the action kind the chain records.
var actionOfTool = map[string]session.ActionKind{
	"restart_service":  session.ActionRestart,
	"redeploy_service": session.ActionRedeploy,
	"run_playbook":     session.ActionPlaybook,
	"container_status": session.ProbeContainerStatus,
	"container_logs":   session.ProbeContainerLogs,
	"unit_status":      session.ProbeUnitStatus,
	"http_probe":       session.ProbeHTTP,
	"declared_check":   session.ProbeDeclaredCheck,
	"prometheus_query": session.ProbePrometheus,
}

// call is what a tool call needs to be matched with its decision.
type call struct {
	tool    string
	kind    session.ActionKind // typed actions
	target  string
	command string // Bash
}

// reader turns transcript lines into events, one line at a time, so that a
// running session can be followed. actions returns the session's decisions
// so far (the live record's, or the stored one's).
type reader struct {
	seq     int
	calls   map[string]call
	used    map[int]bool
	actions func() []session.Action
}

func newReader(actions func() []session.Action) *reader {
	if actions == nil {
		actions = func() []session.Action { return nil }
	}
	return &reader{calls: map[string]call{}, used: map[int]bool{}, actions: actions}
}

func (p *reader) emit(out []Event, e Event) []Event {
	p.seq++
	e.Seq = p.seq
	return append(out, e)
}

// line reads one transcript line.
func (p *reader) line(b []byte) []Event {
	var env struct {
		Type    string          `json:"type"`
		Subtype string          `json:"subtype"`
		Event   string          `json:"event"`
		Message json.RawMessage `json:"message"`
		Line    string          `json:"line"`
	}
	if json.Unmarshal(b, &env) != nil {
		return p.emit(nil, Event{Kind: "notice", Text: clip(string(b), maxEventText)})
	}
	switch env.Type {
	case "claudeops":
		return p.ours(env.Event, b)
	case "assistant":
		return p.assistant(env.Message)
	case "user":
		return p.user(env.Message)
	case "result":
		return p.result(b)
	case "system":
		return p.system(env.Subtype, b)
	case "stdout", "stderr":
		if strings.TrimSpace(env.Line) == "" {
			return nil
		}
		return p.emit(nil, Event{Kind: "notice", Text: env.Type + ": " + clip(env.Line, maxEventText)})
	}
	return nil
}

func (p *reader) ours(event string, b []byte) []Event {
	switch event {
	case "start":
		var v struct {
			Tier       session.Tier    `json:"tier"`
			Model      string          `json:"model"`
			Trigger    session.Trigger `json:"trigger"`
			IncidentID string          `json:"incident_id"`
		}
		_ = json.Unmarshal(b, &v)
		return p.emit(nil, Event{Kind: "start", Tier: v.Tier, Model: v.Model, Trigger: v.Trigger, IncidentID: v.IncidentID})
	case "line_too_long":
		return p.emit(nil, Event{Kind: "notice", Text: "a line of the CLI's output was too long and was dropped"})
	}
	return nil // "end": the outcome comes from the final record
}

type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

func blocksOf(msg json.RawMessage) []block {
	var m struct {
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return nil
	}
	var bs []block
	if json.Unmarshal(m.Content, &bs) == nil {
		return bs
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil && s != "" {
		return []block{{Type: "text", Text: s}}
	}
	return nil
}

func (p *reader) assistant(msg json.RawMessage) []Event {
	var out []Event
	for _, b := range blocksOf(msg) {
		switch b.Type {
		case "text":
			if strings.TrimSpace(b.Text) != "" {
				out = p.emit(out, Event{Kind: "text", Text: clip(b.Text, maxEventText)})
			}
		case "tool_use":
			c := call{tool: b.Name}
			var in map[string]any
			_ = json.Unmarshal(b.Input, &in)
			if name, ok := strings.CutPrefix(b.Name, opsPrefix); ok {
				c.kind = actionOfTool[name]
				for _, k := range []string{"service", "url", "expr"} {
					if s, ok := in[k].(string); ok && s != "" {
						c.target = s
						break
					}
				}
			}
			if b.Name == "Bash" {
				c.command, _ = in["command"].(string)
			}
			p.calls[b.ID] = c
			out = p.emit(out, Event{Kind: "tool_call", Tool: b.Name, ToolID: b.ID, Input: clip(compact(b.Input), maxEventInput)})
		}
	}
	return out
}

func (p *reader) user(msg json.RawMessage) []Event {
	var out []Event
	for _, b := range blocksOf(msg) {
		if b.Type != "tool_result" {
			continue
		}
		c := p.calls[b.ToolUseID]
		out = p.emit(out, Event{Kind: "tool_result", Tool: c.tool, ToolID: b.ToolUseID, Text: clip(resultText(b.Content), maxEventText), IsError: b.IsError})
		for _, a := range p.match(c, b.IsError) {
			out = p.emit(out, Event{Kind: "action", Action: &a})
		}
	}
	return out
}

// match returns the decisions that answered a call, and marks them used: a
// typed call's (same kind, the target as named), the gate's refusals of a
// Bash command, or, for another refused tool, the gate's refusals not yet
// shown.
func (p *reader) match(c call, isError bool) []session.Action {
	acts := p.actions()
	var out []session.Action
	take := func(i int) {
		p.used[i] = true
		out = append(out, acts[i])
	}
	switch {
	case c.kind != "":
		first := -1
		for i, a := range acts {
			if p.used[i] || a.Action != string(c.kind) || a.Command != "" {
				continue
			}
			if a.Target == c.target || strings.HasPrefix(c.target, strings.TrimSuffix(a.Target, "…")) {
				take(i)
				return out
			}
			if first < 0 {
				first = i
			}
		}
		if first >= 0 {
			take(first)
		}
	case c.command != "":
		for i, a := range acts {
			if !p.used[i] && a.Command != "" && (a.Command == c.command || strings.HasPrefix(c.command, strings.TrimSuffix(a.Command, "…"))) {
				take(i)
			}
		}
	case isError && c.tool != "" && !strings.HasPrefix(c.tool, opsPrefix):
		for i, a := range acts {
			if !p.used[i] && a.Command != "" {
				take(i)
			}
		}
	}
	return out
}

func (p *reader) result(b []byte) []Event {
	var r struct {
		Subtype          string          `json:"subtype"`
		IsError          bool            `json:"is_error"`
		NumTurns         int             `json:"num_turns"`
		Result           string          `json:"result"`
		TotalCostUSD     float64         `json:"total_cost_usd"`
		StructuredOutput json.RawMessage `json:"structured_output"`
	}
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	text := r.Result
	if len(r.StructuredOutput) > 0 && json.Valid([]byte(strings.TrimSpace(text))) {
		text = "" // the structured output again, as text
	}
	return p.emit(nil, Event{Kind: "result", Subtype: r.Subtype, IsError: r.IsError, Turns: r.NumTurns,
		CostUSD: r.TotalCostUSD, Text: clip(text, maxEventText), Output: r.StructuredOutput})
}

func (p *reader) system(subtype string, b []byte) []Event {
	switch subtype {
	case "api_retry":
		var v struct {
			Attempt int             `json:"attempt"`
			Error   json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(b, &v)
		return p.emit(nil, Event{Kind: "notice", Text: fmt.Sprintf("model API retry %d: %s", v.Attempt, clip(rawString(v.Error), 500))})
	case "permission_denied":
		var v struct {
			ToolName string `json:"tool_name"`
			Message  string `json:"message"`
		}
		_ = json.Unmarshal(b, &v)
		return p.emit(nil, Event{Kind: "notice", Tool: v.ToolName, Text: clip("permission denied: "+v.Message, maxEventText)})
	}
	return nil
}

// finish returns the decisions no tool result claimed, then the outcome.
func (p *reader) finish(rec session.Record, r Record) []Event {
	var out []Event
	for i, a := range p.actions() {
		if !p.used[i] {
			p.used[i] = true
			out = p.emit(out, Event{Kind: "action", Action: &a})
		}
	}
	return p.emit(out, Event{Kind: "outcome", Outcome: rec.Outcome, Reason: rec.Reason, Subtype: rec.ErrorSubtype,
		CostUSD: rec.CostUSD, Turns: rec.Turns, Session: &r})
}

// resultText is a tool result's content: a string, or its text blocks.
func resultText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var texts []string
		for _, p := range parts {
			if p.Type == "text" {
				texts = append(texts, p.Text)
			} else if p.Type != "" {
				texts = append(texts, "["+p.Type+"]")
			}
		}
		return strings.Join(texts, "\n")
	}
	return string(raw)
}

func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func compact(raw json.RawMessage) string {
	var b strings.Builder
	if len(raw) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// clip shortens s to at most n bytes on a rune boundary, saying how much
// was left out.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes more)", len(s)-cut)
}
