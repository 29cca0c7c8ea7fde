package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/claude-ops/claude-ops/session"
)

// cliArgs builds the argv (without the program) of one `claude -p` session.
// The prompt comes first: --tools, --allowedTools, --disallowedTools and
// --mcp-config are variadic and would swallow a prompt that follows them. A
// prompt that starts with "-" would be read as a flag, so it goes last,
// after "--".
func cliArgs(req session.Request) ([]string, error) {
	if !req.Tier.Valid() {
		return nil, fmt.Errorf("invalid tier %d", req.Tier)
	}
	if strings.TrimSpace(req.Prompt) == "" {
		return nil, errors.New("empty prompt")
	}
	var schema bytes.Buffer
	if err := json.Compact(&schema, []byte(session.Schema(req.Tier))); err != nil {
		return nil, fmt.Errorf("tier %d schema: %w", req.Tier, err)
	}
	dashPrompt := strings.HasPrefix(req.Prompt, "-")
	args := []string{"-p"}
	if !dashPrompt {
		args = append(args, req.Prompt)
	}
	if req.Model != "" {
		args = append(args, "--model", req.Model)
	}
	args = append(args,
		"--output-format", "stream-json", "--verbose",
		"--json-schema", schema.String(),
		// "" gives no built-in tool at all: a policy without tools fails closed.
		"--tools", strings.Join(req.Policy.Tools, ","),
		// Only our settings: a repo's .claude/settings*.json (project, local)
		// must not widen the tier's rules or add hooks. "user" is the fresh
		// per-session CLAUDE_CONFIG_DIR.
		"--setting-sources", "user",
	)
	if len(req.Policy.Allow) > 0 {
		args = append(append(args, "--allowedTools"), req.Policy.Allow...)
	}
	if len(req.Policy.Deny) > 0 {
		args = append(append(args, "--disallowedTools"), req.Policy.Deny...)
	}
	if req.SystemPrompt != "" {
		args = append(args, "--append-system-prompt", req.SystemPrompt)
	}
	if len(req.MCPConfig) > 0 {
		args = append(args, "--mcp-config", string(req.MCPConfig))
	}
	if req.Policy.MaxTurns > 0 {
		args = append(args, "--max-turns", strconv.Itoa(req.Policy.MaxTurns))
	}
	if req.MaxBudgetUSD > 0 {
		args = append(args, "--max-budget-usd", strconv.FormatFloat(req.MaxBudgetUSD, 'f', -1, 64))
	}
	if len(req.Settings) > 0 {
		args = append(args, "--settings", string(req.Settings))
	}
	args = append(args, "--no-session-persistence")
	if dashPrompt {
		args = append(args, "--", req.Prompt)
	}
	return args, nil
}
