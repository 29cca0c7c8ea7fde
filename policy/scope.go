// What the classifier knows of the shell state: variables, functions, the
// working directory, and which variables change what commands run.

package policy

import (
	"path"
	"strconv"
	"strings"
)

// val is a shell variable's value as far as it is known.
type val struct {
	s     string
	known bool
}

// scope is what the classifier knows of the shell state at one point.
type scope struct {
	vars   map[string]val
	funcs  map[string]bool
	cwd    string
	cwdOK  bool
	remote bool // a remote or container shell: relative paths are not ours
}

func newScope(cwd string) *scope {
	sc := &scope{vars: map[string]val{}, funcs: map[string]bool{}}
	if cwd != "" && path.IsAbs(cwd) {
		sc.cwd, sc.cwdOK = path.Clean(cwd), true
	}
	return sc
}

func (sc *scope) clone() *scope {
	n := &scope{vars: make(map[string]val, len(sc.vars)), funcs: make(map[string]bool, len(sc.funcs)),
		cwd: sc.cwd, cwdOK: sc.cwdOK, remote: sc.remote}
	for k, v := range sc.vars {
		n.vars[k] = v
	}
	for k := range sc.funcs {
		n.funcs[k] = true
	}
	return n
}

// child is the scope of a new shell process (sh -c, bash script): same
// working directory, no variables, positional parameters from args.
func (sc *scope) child(params []arg) *scope {
	n := &scope{vars: map[string]val{}, funcs: map[string]bool{}, cwd: sc.cwd, cwdOK: sc.cwdOK, remote: sc.remote}
	for i, a := range params {
		n.vars[strconv.Itoa(i)] = val{s: a.s, known: a.lit}
	}
	return n
}

// remoteScope is the scope of a shell on another host or in a container.
func remoteScope() *scope {
	return &scope{vars: map[string]val{}, funcs: map[string]bool{}, remote: true}
}

// merge folds a branch that may or may not have run back into sc: what the
// branch changed is no longer known.
func (sc *scope) merge(b *scope) {
	for k, v := range b.vars {
		if o, ok := sc.vars[k]; !ok || o != v {
			sc.vars[k] = val{}
		}
	}
	for k := range sc.vars {
		if _, ok := b.vars[k]; !ok {
			sc.vars[k] = val{}
		}
	}
	for k := range b.funcs {
		sc.funcs[k] = true
	}
	if b.cwd != sc.cwd || b.cwdOK != sc.cwdOK {
		sc.cwdOK = false
	}
}

func (sc *scope) cd(a arg) {
	if !a.lit || a.s == "" || a.s == "-" || strings.HasPrefix(a.s, "~") {
		sc.cwdOK = false
		return
	}
	if path.IsAbs(a.s) {
		sc.cwd, sc.cwdOK = path.Clean(a.s), !sc.remote
		return
	}
	if sc.cwdOK {
		sc.cwd = path.Join(sc.cwd, a.s)
	}
}

// resolve makes p absolute; ok is false when that depends on an unknown
// working directory. "~" paths resolve to "/~/..." (a home, never the repos).
func (sc *scope) resolve(p string) (string, bool) {
	switch {
	case path.IsAbs(p):
		return path.Clean(p), true
	case p == "~" || strings.HasPrefix(p, "~"):
		return path.Clean("/" + p), true
	case sc.remote:
		return path.Join("/~remote", p), true
	case sc.cwdOK:
		return path.Join(sc.cwd, p), true
	}
	return "", false
}

// dangerousVar reports variables that change which program a name runs, or
// make a shell run code of its own.
func dangerousVar(name string) bool {
	switch name {
	case "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "BASH_ENV", "ENV", "IFS",
		"PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "PS4", "GLOBIGNORE", "CDPATH",
		"PYTHONPATH", "PYTHONSTARTUP", "PERL5LIB", "PERL5OPT", "NODE_OPTIONS", "RUBYOPT",
		"GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
		"SUDO_ASKPASS", "SSH_ASKPASS", "EDITOR", "VISUAL", "PAGER", "SYSTEMD_EDITOR", "KUBECTL_EXTERNAL_DIFF":
		return true
	}
	return strings.HasPrefix(name, "BASH_FUNC_") || strings.HasPrefix(name, "GIT_CONFIG_")
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}
