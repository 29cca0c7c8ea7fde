package runner

import (
	"bytes"
	"encoding/json"
	"log/slog"
)

// maxToolLogInput bounds the input a tool call's log line shows.
const maxToolLogInput = 200

// toolLogger logs one line at info per tool call the model makes (the
// assistant's tool_use blocks), with the input redacted and cut short: what
// a session does is readable in the daemon's log, not only in transcripts.
// The typed actions log their own line when the daemon decides them.
func toolLogger(log *slog.Logger, red *redactor, next lineSink) lineSink {
	return func(line []byte, isJSON bool) {
		next(line, isJSON)
		if !isJSON || !bytes.Contains(line, []byte(`"tool_use"`)) {
			return
		}
		var ev struct {
			Type    string `json:"type"`
			Message struct {
				Content []struct {
					Type  string          `json:"type"`
					Name  string          `json:"name"`
					Input json.RawMessage `json:"input"`
				} `json:"content"`
			} `json:"message"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Type != "assistant" {
			return
		}
		for _, c := range ev.Message.Content {
			if c.Type == "tool_use" {
				log.Info("tool call", "tool", c.Name, "input", toolInput(red, c.Input))
			}
		}
	}
}

// toolInput is the call's input for the log: a Bash call's command, else
// the input's JSON; redacted, at most maxToolLogInput bytes.
func toolInput(red *redactor, raw json.RawMessage) string {
	var bash struct {
		Command string `json:"command"`
	}
	s := string(raw)
	if json.Unmarshal(raw, &bash) == nil && bash.Command != "" {
		s = bash.Command
	}
	s = red.String(s)
	if len(s) > maxToolLogInput {
		s = s[:maxToolLogInput] + "…"
	}
	return s
}
