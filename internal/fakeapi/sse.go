package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// sseWriter writes server-sent events and flushes after each one.
type sseWriter struct {
	w   http.ResponseWriter
	f   http.Flusher
	err error
}

func (s *sseWriter) event(name string, data any) {
	if s.err != nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		s.err = err
		return
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		s.err = err
		return
	}
	if s.f != nil {
		s.f.Flush()
	}
}

type obj = map[string]any

// streamTurn writes a whole assistant message as the Messages API streams it.
func streamTurn(s *sseWriter, msgID, model string, t Turn, usage Usage, toolID func() string) {
	s.event("message_start", obj{"type": "message_start", "message": obj{
		"id": msgID, "type": "message", "role": "assistant", "model": model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": obj{
			"input_tokens": usage.InputTokens, "output_tokens": 1,
			"cache_creation_input_tokens": usage.CacheCreation,
			"cache_read_input_tokens":     usage.CacheRead,
		},
	}})
	index := 0
	contentBytes := 0
	if t.Text != "" {
		s.event("content_block_start", obj{"type": "content_block_start", "index": index,
			"content_block": obj{"type": "text", "text": ""}})
		s.event("content_block_delta", obj{"type": "content_block_delta", "index": index,
			"delta": obj{"type": "text_delta", "text": t.Text}})
		s.event("content_block_stop", obj{"type": "content_block_stop", "index": index})
		contentBytes += len(t.Text)
		index++
	}
	for _, tu := range t.Tools {
		input, err := json.Marshal(tu.Input)
		if err != nil || tu.Input == nil {
			input = []byte("{}")
		}
		s.event("content_block_start", obj{"type": "content_block_start", "index": index,
			"content_block": obj{"type": "tool_use", "id": toolID(), "name": tu.Name, "input": obj{}}})
		// Two deltas, split mid-way, as the real API sends partial JSON.
		half := len(input) / 2
		for _, part := range []string{string(input[:half]), string(input[half:])} {
			s.event("content_block_delta", obj{"type": "content_block_delta", "index": index,
				"delta": obj{"type": "input_json_delta", "partial_json": part}})
		}
		s.event("content_block_stop", obj{"type": "content_block_stop", "index": index})
		contentBytes += len(input) + len(tu.Name)
		index++
	}
	stop := "end_turn"
	if len(t.Tools) > 0 {
		stop = "tool_use"
	}
	out := usage.OutputTokens
	if out == 0 {
		out = max(1, contentBytes/4)
	}
	s.event("message_delta", obj{"type": "message_delta",
		"delta": obj{"stop_reason": stop, "stop_sequence": nil},
		"usage": obj{"output_tokens": out}})
	s.event("message_stop", obj{"type": "message_stop"})
}

// message is a turn as one non-streamed Messages API answer.
func message(msgID, model string, t Turn, usage Usage, toolID func() string) obj {
	var content []any
	contentBytes := 0
	if t.Text != "" {
		content = append(content, obj{"type": "text", "text": t.Text})
		contentBytes += len(t.Text)
	}
	for _, tu := range t.Tools {
		input, err := json.Marshal(tu.Input)
		if err != nil || tu.Input == nil {
			input = []byte("{}")
		}
		content = append(content, obj{"type": "tool_use", "id": toolID(), "name": tu.Name, "input": json.RawMessage(input)})
		contentBytes += len(input) + len(tu.Name)
	}
	stop := "end_turn"
	if len(t.Tools) > 0 {
		stop = "tool_use"
	}
	out := usage.OutputTokens
	if out == 0 {
		out = max(1, contentBytes/4)
	}
	return obj{"id": msgID, "type": "message", "role": "assistant", "model": model, "content": content,
		"stop_reason": stop, "stop_sequence": nil,
		"usage": obj{"input_tokens": usage.InputTokens, "output_tokens": out,
			"cache_creation_input_tokens": usage.CacheCreation, "cache_read_input_tokens": usage.CacheRead}}
}

// errorTypes are Anthropic's error types by HTTP status.
var errorTypes = map[int]string{
	400: "invalid_request_error",
	401: "authentication_error",
	403: "permission_error",
	404: "not_found_error",
	413: "request_too_large",
	429: "rate_limit_error",
	500: "api_error",
	529: "overloaded_error",
}

// errorMessages are the messages the real API gives with each error type.
var errorMessages = map[string]string{
	"overloaded_error": "Overloaded",
	"api_error":        "Internal server error",
	"rate_limit_error": "Rate limited",
}

func writeError(w http.ResponseWriter, status int, errType, requestID string) {
	if errType == "" {
		errType = errorTypes[status]
		if errType == "" {
			errType = "api_error"
		}
	}
	msg := errorMessages[errType]
	if msg == "" {
		msg = "fake " + errType
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", requestID)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(obj{
		"type":       "error",
		"error":      obj{"type": errType, "message": msg},
		"request_id": requestID,
	})
}
