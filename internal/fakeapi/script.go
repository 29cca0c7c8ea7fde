// Package fakeapi is a scripted fake of the Anthropic Messages API for tests:
// the real Claude Code CLI runs against it offline. A Script decides the answer
// to each request (one request is one model turn); the server records what the
// CLI sent so tests can assert on it.
package fakeapi

import (
	"sort"
	"strings"
	"time"
)

// Usage is the token usage a turn reports. Zero fields get defaults (see Turn).
type Usage struct {
	InputTokens   int
	OutputTokens  int
	CacheRead     int
	CacheCreation int
}

// ToolUse is one tool call the fake model makes. Input is marshalled to JSON.
type ToolUse struct {
	Name  string
	Input any
}

// Turn is the answer to one request.
//
// Status, when non-zero, answers with that HTTP status and an Anthropic-shaped
// JSON error body of ErrorType (a default for the status when empty) instead
// of a stream. Delay is waited before answering. Otherwise the answer streams
// Text (when set) and one tool_use block per Tools entry. When Usage.InputTokens
// is zero the server reports 100, or its estimate with EstimateUsage; when
// Usage.OutputTokens is zero it reports about a token per 4 bytes of content.
type Turn struct {
	Text      string
	Tools     []ToolUse
	Status    int
	ErrorType string
	Delay     time.Duration
	Usage     Usage
}

// Script picks the answer to a request.
type Script func(r *Request) Turn

// StructuredOutput is the call with which the CLI's --json-schema run ends.
func StructuredOutput(v any) ToolUse {
	return ToolUse{Name: "StructuredOutput", Input: v}
}

// Bash is a call of the Bash tool.
func Bash(cmd string) ToolUse {
	return ToolUse{Name: "Bash", Input: map[string]string{"command": cmd, "description": "Run " + cmd}}
}

// Sequence answers the n-th turn of a conversation with turns[n], n being the
// number of assistant messages in the request; past the end it repeats the
// last turn. An empty sequence answers a plain text turn.
func Sequence(turns ...Turn) Script {
	return func(r *Request) Turn {
		if len(turns) == 0 {
			return Turn{Text: "Done."}
		}
		return turns[min(r.Turn, len(turns)-1)]
	}
}

// ByModel routes on the request's model: an exact key wins, else the longest
// key the model name contains ("haiku" matches "claude-haiku-5-5"). A model
// with no script gets a 400 invalid_request_error.
func ByModel(scripts map[string]Script) Script {
	keys := make([]string, 0, len(scripts))
	for k := range scripts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	return func(r *Request) Turn {
		if s, ok := scripts[r.Model]; ok {
			return s(r)
		}
		for _, k := range keys {
			if strings.Contains(r.Model, k) {
				return scripts[k](r)
			}
		}
		return Turn{Status: 400, ErrorType: "invalid_request_error"}
	}
}

// ByPrompt routes on the user prompt of the conversation; pick may return nil
// for an unknown prompt, which gets a 400 invalid_request_error.
func ByPrompt(pick func(prompt string) Script) Script {
	return func(r *Request) Turn {
		if s := pick(r.Prompt); s != nil {
			return s(r)
		}
		return Turn{Status: 400, ErrorType: "invalid_request_error"}
	}
}
