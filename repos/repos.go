// Package repos reads the infrastructure repos mounted under --repos.dir
// (SPEC.md §4): each repo's CLAUDE-OPS.md manifest, its extension checks,
// playbooks and skills under .claude-ops/, the services it declares in
// .claude-ops/services.yaml, and its MCP servers, merged with the daemon's
// baseline MCP configuration.
//
// Every read is bounded and a broken repo file is reported, never fatal: one
// repo's mistakes must not stop the others from being watched.
package repos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Size limits of what Load reads from a repo.
const (
	// MaxManifestBytes bounds CLAUDE-OPS.md; a larger manifest is truncated.
	MaxManifestBytes = 16 << 10
	// MaxFileBytes bounds one extension file (check, playbook, skill); a
	// larger one is truncated.
	MaxFileBytes = 16 << 10
	// MaxFilesPerDir bounds the .md files read from one extension folder; the
	// first ones in lexical order are kept, the rest skipped.
	MaxFilesPerDir = 50
	// MaxMCPBytes bounds .claude-ops/mcp.json; a larger file is skipped.
	MaxMCPBytes = 64 << 10
	// MaxPromptBytes bounds the file contents Inventory.Prompt inlines; files
	// past it are listed by path for the agent to read.
	MaxPromptBytes = 48 << 10
	// MaxRulesBytes bounds the file contents Inventory.RepoRules inlines.
	MaxRulesBytes = 128 << 10
)

// File and folder names inside a repo.
const (
	ManifestFile = "CLAUDE-OPS.md"
	ExtDir       = ".claude-ops"
	MCPFile      = ".claude-ops/mcp.json"
)

// Errors that RepoError wraps.
var (
	ErrTooLarge     = errors.New("file too large")
	ErrTooManyFiles = errors.New("too many files")
	ErrNotRegular   = errors.New("not a regular file")
	ErrOutsideRepo  = errors.New("symbolic link leads outside the repo")
	ErrInvalidMCP   = errors.New("invalid MCP configuration")
)

// File is one extension file of a repo.
type File struct {
	// Name is the file name without ".md", e.g. "backup".
	Name string
	// Path is the file's path relative to the repos dir, e.g.
	// "infra/.claude-ops/checks/backup.md".
	Path string
	// Content is the file's text, at most MaxFileBytes.
	Content string
	// Truncated reports that the file was longer than MaxFileBytes.
	Truncated bool
}

// Repo is one mounted repo.
type Repo struct {
	// Name is the repo's folder name under the repos dir.
	Name string
	// Manifest is the text of CLAUDE-OPS.md; empty when the repo has none.
	Manifest string
	// ManifestTruncated reports that CLAUDE-OPS.md was longer than MaxManifestBytes.
	ManifestTruncated bool
	// Checks, Playbooks and Skills are the .md files of .claude-ops/checks,
	// .claude-ops/playbooks and .claude-ops/skills, in lexical order.
	Checks, Playbooks, Skills []File
	// MCPServers names the MCP servers this repo added to the merged
	// configuration, in lexical order.
	MCPServers []string
	// Services are the services .claude-ops/services.yaml declares, in file
	// order; nil when the repo has none or the file is broken.
	Services []ServiceDecl
}

// RepoError is a repo file that could not be read or used as is. It is
// reported (log, metric) and the rest of the inventory is used anyway.
type RepoError struct {
	Repo string // the repo's folder name
	File string // path inside the repo, e.g. ".claude-ops/mcp.json"
	Err  error
}

func (e RepoError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("repo %s: %v", e.Repo, e.Err)
	}
	return fmt.Sprintf("repo %s: %s: %v", e.Repo, e.File, e.Err)
}

// Unwrap returns the underlying error.
func (e RepoError) Unwrap() error { return e.Err }

// Conflict is an MCP server a repo tried to define although the baseline or
// an earlier repo (in lexical order) already had one of that name. The repo's
// definition is ignored.
type Conflict struct {
	Repo   string // the repo whose definition was ignored
	Server string // the server name
	// Owner is the repo that defined the server first; empty for the baseline.
	Owner string
}

// Inventory is what Load found in the repos dir.
type Inventory struct {
	// Dir is the repos dir it was loaded from.
	Dir string
	// Repos are the repos in lexical order of their folder names.
	Repos []Repo
	// Errors are the repo files that were broken, too large, or skipped.
	Errors []RepoError
	// Conflicts are the MCP servers repos tried to redefine.
	Conflicts []Conflict

	servers map[string]json.RawMessage
}

// Load reads every repo (non-hidden folder) of dir in lexical order, and
// merges the baseline MCP configuration ({"mcpServers": {...}}, may be empty)
// with each repo's .claude-ops/mcp.json. A repo may add servers but never
// replace one of the baseline or of an earlier repo (see Inventory.Conflicts).
//
// The inventory is never nil. Problems with single repo files are in
// Inventory.Errors; the error is non-nil only when dir cannot be read (then
// the inventory holds no repos) or the baseline is not valid.
func Load(dir string, baselineMCP json.RawMessage) (*Inventory, error) {
	inv := &Inventory{Dir: dir, servers: map[string]json.RawMessage{}}
	owner := map[string]string{}
	var errs []error

	if len(bytes.TrimSpace(baselineMCP)) > 0 {
		servers, err := parseMCP(baselineMCP, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("baseline MCP config: %w", err))
		}
		for name, def := range servers {
			inv.servers[name] = def
			owner[name] = ""
		}
	}

	if dir == "" {
		return inv, errors.Join(append(errs, errors.New("no repos dir configured"))...)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return inv, errors.Join(append(errs, fmt.Errorf("read repos dir: %w", err))...)
	}
	for _, e := range entries { // os.ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() { // follows a symlinked repo
			continue
		}
		repo, servers := inv.loadRepo(name, path)
		for _, s := range sortedKeys(servers) {
			if o, taken := owner[s]; taken {
				inv.Conflicts = append(inv.Conflicts, Conflict{Repo: name, Server: s, Owner: o})
				continue
			}
			inv.servers[s] = servers[s]
			owner[s] = name
			repo.MCPServers = append(repo.MCPServers, s)
		}
		inv.Repos = append(inv.Repos, repo)
	}
	return inv, errors.Join(errs...)
}

// loadRepo reads one repo; it returns the servers of its mcp.json, unmerged.
func (inv *Inventory) loadRepo(name, path string) (Repo, map[string]json.RawMessage) {
	repo := Repo{Name: name}
	report := func(file string, err error) {
		inv.Errors = append(inv.Errors, RepoError{Repo: name, File: file, Err: err})
	}
	root, err := filepath.EvalSymlinks(path)
	if err != nil {
		report("", err)
		return repo, nil
	}

	text, truncated, err := readBounded(root, ManifestFile, MaxManifestBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		report(ManifestFile, err)
	default:
		repo.Manifest, repo.ManifestTruncated = text, truncated
		if truncated {
			report(ManifestFile, fmt.Errorf("%w: truncated to %d bytes", ErrTooLarge, MaxManifestBytes))
		}
	}

	for _, kind := range []struct {
		dir string
		dst *[]File
	}{{"checks", &repo.Checks}, {"playbooks", &repo.Playbooks}, {"skills", &repo.Skills}} {
		*kind.dst = inv.loadExtensions(name, root, ExtDir+"/"+kind.dir)
	}
	repo.Services = inv.loadServices(name, root)

	text, truncated, err = readBounded(root, MCPFile, MaxMCPBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return repo, nil
	case err != nil:
		report(MCPFile, err)
		return repo, nil
	case truncated:
		report(MCPFile, fmt.Errorf("%w: over %d bytes, skipped", ErrTooLarge, MaxMCPBytes))
		return repo, nil
	}
	servers, err := parseMCP([]byte(text), false)
	if err != nil {
		report(MCPFile, err)
		return repo, nil
	}
	return repo, servers
}

// loadExtensions reads the .md files of one extension folder of a repo.
func (inv *Inventory) loadExtensions(repo, root, rel string) []File {
	report := func(file string, err error) {
		inv.Errors = append(inv.Errors, RepoError{Repo: repo, File: file, Err: err})
	}
	dir, err := resolve(root, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		report(rel, err)
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			report(rel, err)
		}
		return nil
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".md") || e.IsDir() {
			continue
		}
		names = append(names, n)
	}
	if len(names) > MaxFilesPerDir {
		report(rel, fmt.Errorf("%w: %d .md files, read the first %d", ErrTooManyFiles, len(names), MaxFilesPerDir))
		names = names[:MaxFilesPerDir]
	}
	var files []File
	for _, n := range names {
		fileRel := rel + "/" + n
		text, truncated, err := readBounded(root, fileRel, MaxFileBytes)
		if err != nil {
			report(fileRel, err)
			continue
		}
		if truncated {
			report(fileRel, fmt.Errorf("%w: truncated to %d bytes", ErrTooLarge, MaxFileBytes))
		}
		files = append(files, File{
			Name:      strings.TrimSuffix(n, ".md"),
			Path:      repo + "/" + fileRel,
			Content:   text,
			Truncated: truncated,
		})
	}
	return files
}

// resolve returns the real path of rel inside root, refusing symbolic links
// that lead outside root (root must already be resolved).
func resolve(root, rel string) (string, error) {
	real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	r, err := filepath.Rel(root, real)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return "", ErrOutsideRepo
	}
	return real, nil
}

// readBounded reads at most limit bytes of the regular file rel inside root.
// truncated reports that the file was longer; the text is cut at a rune
// boundary and made valid UTF-8.
func readBounded(root, rel string, limit int) (text string, truncated bool, err error) {
	path, err := resolve(root, rel)
	if err != nil {
		return "", false, err
	}
	// Stat before opening: opening a FIFO would block.
	fi, err := os.Stat(path)
	if err != nil {
		return "", false, err
	}
	if !fi.Mode().IsRegular() {
		return "", false, ErrNotRegular
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return "", false, err
	}
	if len(data) > limit {
		data, truncated = data[:limit], true
		// Drop a rune cut in half (at most 3 trailing bytes).
		for i := 0; i < utf8.UTFMax-1 && len(data) > 0; i++ {
			r, size := utf8.DecodeLastRune(data)
			if r != utf8.RuneError || size != 1 {
				break
			}
			data = data[:len(data)-1]
		}
	}
	return strings.ToValidUTF8(string(data), "\uFFFD"), truncated, nil
}

// parseMCP returns the servers of an MCP configuration {"mcpServers": {...}}.
// Each server must be a JSON object. When lenient, a document without
// mcpServers has no servers rather than being invalid.
func parseMCP(raw []byte, lenient bool) (map[string]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMCP, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidMCP)
	}
	ms, ok := top["mcpServers"]
	if !ok {
		if lenient {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: no \"mcpServers\" object", ErrInvalidMCP)
	}
	var servers map[string]json.RawMessage
	if err := json.Unmarshal(ms, &servers); err != nil || servers == nil {
		return nil, fmt.Errorf("%w: \"mcpServers\" is not an object", ErrInvalidMCP)
	}
	for name, def := range servers {
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%w: a server has an empty name", ErrInvalidMCP)
		}
		if d := bytes.TrimSpace(def); len(d) == 0 || d[0] != '{' {
			return nil, fmt.Errorf("%w: server %q is not an object", ErrInvalidMCP, name)
		}
	}
	return servers, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MCPConfig returns the merged MCP configuration, {"mcpServers": {...}}, for
// --mcp-config; nil when there are no servers at all.
func (inv *Inventory) MCPConfig() json.RawMessage {
	if inv == nil || len(inv.servers) == 0 {
		return nil
	}
	out, err := json.Marshal(struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
	}{inv.servers})
	if err != nil { // cannot happen: every definition was parsed as an object
		return nil
	}
	return out
}

// Repo returns the repo of that folder name.
func (inv *Inventory) Repo(name string) (*Repo, bool) {
	if inv == nil {
		return nil, false
	}
	for i := range inv.Repos {
		if inv.Repos[i].Name == name {
			return &inv.Repos[i], true
		}
	}
	return nil, false
}
