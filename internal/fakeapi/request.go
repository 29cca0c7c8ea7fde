package fakeapi

import (
	"encoding/json"
	"strings"
)

// Request is what the server understood of one POST /v1/messages.
type Request struct {
	Model string
	// Tools are the names of tools[] in the order sent.
	Tools []string
	// System is the text of the system blocks, joined by newlines.
	System string
	// Prompt is the last text block of the first user message.
	Prompt string
	// Turn is the number of assistant messages: 0 for the first request.
	Turn int
	// ToolResults are the tool_result blocks of the last user message.
	ToolResults []ToolResult
	// Stream is the body's "stream": the CLI always streams, but retries a
	// failed stream once without.
	Stream bool
	// APIKey is the x-api-key header.
	APIKey string
	// BodyBytes is the size of the raw body; Body is the raw body.
	BodyBytes int
	Body      []byte
	// EstimatedInputTokens is a quarter of the bytes of system, tools and messages.
	EstimatedInputTokens int
}

// ToolResult is one tool_result block.
type ToolResult struct {
	ToolUseID string
	Content   string
	IsError   bool
}

type wireBody struct {
	Model    string          `json:"model"`
	System   json.RawMessage `json:"system"`
	Tools    json.RawMessage `json:"tools"`
	Messages json.RawMessage `json:"messages"`
	Stream   bool            `json:"stream"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type wireBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Name      string          `json:"name"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// parseRequest decodes a Messages API body; it never fails on unexpected
// shapes, it just records less.
func parseRequest(body []byte) (*Request, error) {
	var b wireBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	r := &Request{
		Stream:               b.Stream,
		Model:                b.Model,
		BodyBytes:            len(body),
		Body:                 body,
		System:               text(b.System),
		EstimatedInputTokens: (len(b.System) + len(b.Tools) + len(b.Messages)) / 4,
	}
	var tools []wireBlock
	_ = json.Unmarshal(b.Tools, &tools)
	for _, t := range tools {
		r.Tools = append(r.Tools, t.Name)
	}
	var msgs []wireMessage
	_ = json.Unmarshal(b.Messages, &msgs)
	firstUser, lastUser := -1, -1
	for i, m := range msgs {
		switch m.Role {
		case "assistant":
			r.Turn++
		case "user":
			if firstUser < 0 {
				firstUser = i
			}
			lastUser = i
		}
	}
	if firstUser >= 0 {
		r.Prompt = lastText(msgs[firstUser].Content)
	}
	if lastUser >= 0 {
		for _, blk := range blocks(msgs[lastUser].Content) {
			if blk.Type == "tool_result" {
				r.ToolResults = append(r.ToolResults, ToolResult{
					ToolUseID: blk.ToolUseID, Content: text(blk.Content), IsError: blk.IsError,
				})
			}
		}
	}
	return r, nil
}

// blocks decodes content that is either a string or an array of blocks.
func blocks(content json.RawMessage) []wireBlock {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return []wireBlock{{Type: "text", Text: s}}
	}
	var bs []wireBlock
	_ = json.Unmarshal(content, &bs)
	return bs
}

// text joins the text blocks of content with newlines.
func text(content json.RawMessage) string {
	var parts []string
	for _, b := range blocks(content) {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func lastText(content json.RawMessage) string {
	bs := blocks(content)
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i].Type == "text" {
			return bs[i].Text
		}
	}
	return ""
}
