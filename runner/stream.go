package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/claude-ops/claude-ops/session"
)

// maxLine is the longest stdout line parsed; a longer one is dropped, noted
// in the transcript, and makes the session's outcome an error.
const maxLine = 16 << 20

// streamResult is what the CLI's stream-json said about the session.
type streamResult struct {
	SessionID string
	Result    *resultLine // nil: no result line
	// Denials are from system/permission_denied events, in order.
	Denials []session.Denial
	// APIError is the text of the last synthetic "API Error: ..." message;
	// RetryError the error of the last system/api_retry event.
	APIError   string
	RetryError string

	Lines     int
	Garbage   int // lines that are not JSON
	Oversized int // lines longer than maxLine, dropped
}

type resultLine struct {
	Subtype           string                `json:"subtype"`
	IsError           bool                  `json:"is_error"`
	NumTurns          int                   `json:"num_turns"`
	Result            string                `json:"result"`
	SessionID         string                `json:"session_id"`
	TotalCostUSD      float64               `json:"total_cost_usd"`
	TerminalReason    string                `json:"terminal_reason"`
	APIErrorStatus    json.RawMessage       `json:"api_error_status"`
	Errors            []json.RawMessage     `json:"errors"`
	Usage             *usage                `json:"usage"`
	ModelUsage        map[string]modelUsage `json:"modelUsage"`
	PermissionDenials []struct {
		ToolName  string          `json:"tool_name"`
		ToolUseID string          `json:"tool_use_id"`
		ToolInput json.RawMessage `json:"tool_input"`
	} `json:"permission_denials"`
	StructuredOutput json.RawMessage `json:"structured_output"`
}

type usage struct {
	InputTokens   int64 `json:"input_tokens"`
	OutputTokens  int64 `json:"output_tokens"`
	CacheRead     int64 `json:"cache_read_input_tokens"`
	CacheCreation int64 `json:"cache_creation_input_tokens"`
}

type modelUsage struct {
	InputTokens   int64 `json:"inputTokens"`
	OutputTokens  int64 `json:"outputTokens"`
	CacheRead     int64 `json:"cacheReadInputTokens"`
	CacheCreation int64 `json:"cacheCreationInputTokens"`
}

// lineSink receives every stdout line as read (trailing newline removed);
// isJSON is false for lines that are not JSON. It must not keep line.
type lineSink func(line []byte, isJSON bool)

// parseStream reads the CLI's stream-json output from r until EOF and passes
// each line to sink. Lines that are not JSON, unknown event types and lines
// longer than maxLine never stop it; only a read error does.
func parseStream(r io.Reader, sink lineSink) (*streamResult, error) {
	res := &streamResult{}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		long     []byte // a line longer than br's buffer, being assembled
		dropping bool   // the current line is over maxLine
		dropped  int
	)
	for {
		frag, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			switch {
			case dropping:
				dropped += len(frag)
			case len(long)+len(frag) > maxLine:
				dropping, dropped, long = true, len(long)+len(frag), nil
			default:
				long = append(long, frag...)
			}
			continue
		}
		switch {
		case dropping:
			res.oversized(dropped+len(frag), sink)
			dropping = false
		case len(long) > 0:
			long = append(long, frag...)
			if len(long) > maxLine+1 {
				res.oversized(len(long), sink)
			} else {
				res.line(long, sink)
			}
			long = long[:0]
			if cap(long) > 1<<20 {
				long = nil
			}
		default:
			res.line(frag, sink)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return res, nil
			}
			return res, err
		}
	}
}

func (res *streamResult) oversized(n int, sink lineSink) {
	res.Oversized++
	sink(fmt.Appendf(nil, `{"type":"claudeops","event":"line_too_long","bytes":%d}`, n), true)
}

var (
	synthetic      = []byte(`"<synthetic>"`)
	apiErrorMarker = []byte(`"is_api_error_message"`)
)

func (res *streamResult) line(line []byte, sink lineSink) {
	line = bytes.TrimRight(line, "\r\n")
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	res.Lines++
	if !json.Valid(line) {
		res.Garbage++
		sink(line, false)
		return
	}
	sink(line, true)
	typ, subtype := envelope(line)
	switch string(typ) {
	case "system":
		res.system(string(subtype), line)
	case "assistant":
		// Only the CLI's own error messages matter; skip decoding the rest.
		if bytes.Contains(line, synthetic) || bytes.Contains(line, apiErrorMarker) {
			res.assistantError(line)
		}
	case "result":
		var r resultLine
		if json.Unmarshal(line, &r) == nil {
			res.Result = &r
			if res.SessionID == "" {
				res.SessionID = r.SessionID
			}
		}
	}
}

func (res *streamResult) system(subtype string, line []byte) {
	switch subtype {
	case "init":
		var v struct {
			SessionID string `json:"session_id"`
		}
		if json.Unmarshal(line, &v) == nil {
			res.SessionID = v.SessionID
		}
	case "permission_denied":
		var v struct {
			ToolName  string `json:"tool_name"`
			ToolUseID string `json:"tool_use_id"`
			Message   string `json:"message"`
		}
		if json.Unmarshal(line, &v) == nil {
			res.Denials = append(res.Denials, session.Denial{Tool: v.ToolName, ToolID: v.ToolUseID, Reason: v.Message})
		}
	case "api_retry":
		var v struct {
			Error       json.RawMessage `json:"error"`
			ErrorStatus json.RawMessage `json:"error_status"`
		}
		if json.Unmarshal(line, &v) == nil {
			res.RetryError = rawText(v.Error)
		}
	}
}

func (res *streamResult) assistantError(line []byte) {
	var v struct {
		Message struct {
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		} `json:"message"`
	}
	if json.Unmarshal(line, &v) != nil {
		return
	}
	for _, c := range v.Message.Content {
		if c.Type == "text" && c.Text != "" {
			res.APIError = c.Text
		}
	}
}

// rawText is a JSON value as text: a string's contents, anything else as is.
func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	return strings.TrimSpace(string(raw))
}
