package policy

import (
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"mvdan.cc/sh/v3/syntax"
)

// Kind is how dangerous one command is. The zero value is Mutating, so a Step
// built by mistake fails closed.
type Kind int

const (
	// Mutating changes something that is not one of the kinds below, or is a
	// command the classifier does not know (fail closed).
	Mutating Kind = iota
	// ReadOnly only observes (allowlisted commands with harmless arguments).
	ReadOnly
	// Restart restarts or (re)starts a container, unit or deployment.
	Restart
	// Redeploy recreates, rolls out or applies configuration (Tier 3 only).
	Redeploy
	// Never is refused at every tier (SPEC.md §2 "Never").
	Never
)

// String returns the kind's name, used as the action label of metrics.
func (k Kind) String() string {
	switch k {
	case ReadOnly:
		return "read_only"
	case Restart:
		return "restart"
	case Redeploy:
		return "redeploy"
	case Never:
		return "never"
	default:
		return "mutating"
	}
}

// MarshalText encodes a kind by name (JSON of decisions and logs).
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind's name; unknown names are Mutating.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "read_only":
		*k = ReadOnly
	case "restart":
		*k = Restart
	case "redeploy":
		*k = Redeploy
	case "never":
		*k = Never
	default:
		*k = Mutating
	}
	return nil
}

// rank orders kinds by danger: Never > Redeploy > Restart > Mutating > ReadOnly.
func (k Kind) rank() int {
	switch k {
	case ReadOnly:
		return 0
	case Restart:
		return 2
	case Redeploy:
		return 3
	case Never:
		return 4
	default:
		return 1
	}
}

// Step is one simple command found in a command line, after seeing through
// wrappers (sudo, ssh, sh -c, env, timeout, xargs, eval, ...).
type Step struct {
	Kind Kind
	// Service is what a Restart or Redeploy acts on: the container, unit,
	// deployment, release or compose service/project ("" = not known).
	Service string
	// Argv is the command as it would run; words that are not literal are
	// shown as written.
	Argv []string
	// Reason says why the step got its kind.
	Reason string
	// Opaque is set when what runs, or what it acts on, cannot be known from
	// the text: a command name from a variable, a script fed through a pipe, a
	// restart of "$(docker ps -q)". The gate refuses opaque steps at every
	// tier that is not ReadOnly: they cannot be checked or accounted for.
	Opaque bool
	// SafeFix marks a Mutating step that Tier 2 may run: a file permission
	// repair (chmod, chown, chgrp) outside protected paths, or an edit of a
	// file outside the repos dir, secrets and executable paths.
	SafeFix bool
}

// Decide returns the most dangerous step: Never > Redeploy > Restart >
// Mutating > ReadOnly; among equals an opaque step wins, then the first. The
// gate still rules on (and records) every step; Decide is for summaries. No
// steps at all is Mutating (fail closed).
func Decide(steps []Step) Step {
	if len(steps) == 0 {
		return Step{Kind: Mutating, Reason: "no command classified", Opaque: true}
	}
	best := steps[0]
	for _, s := range steps[1:] {
		if s.Kind.rank() > best.Kind.rank() || (s.Kind.rank() == best.Kind.rank() && s.Opaque && !best.Opaque) {
			best = s
		}
	}
	return best
}

// DefaultReposDir is the repos folder Classify assumes; it is also the CLI's
// working directory in a session.
const DefaultReposDir = "/repos"

// Classify splits a shell command line into steps, with the repos dir and the
// working directory both DefaultReposDir. See Classifier.Classify.
func Classify(command string) []Step {
	return Classifier{ReposDir: DefaultReposDir, Cwd: DefaultReposDir}.Classify(command)
}

// Classifier classifies shell commands and file paths for the action gate.
type Classifier struct {
	// ReposDir is the mounted repos folder: nothing under it may be written.
	ReposDir string
	// Cwd is the working directory commands run in; "" means unknown, and a
	// relative path written to is then taken as possibly under ReposDir.
	Cwd string
}

// Limits that keep classification bounded on hostile input.
const (
	maxDepth    = 12
	maxSteps    = 512
	maxInput    = 256 << 10
	maxLoopVals = 32
	maxSleep    = 10 * time.Minute
	maxWork     = 20000
)

// Classify parses command with a real shell parser (bash dialect) and returns
// one step per simple command it would run, recursing into wrappers, shell
// strings (sh -c, eval, ssh remote commands, here-documents fed to shells),
// command substitutions, subshells, loops and functions. The result is never
// empty; anything unparseable or unknown is Mutating or opaque, never ReadOnly.
func (c Classifier) Classify(command string) []Step {
	w := &walker{repos: cleanAbs(c.ReposDir)}
	sc := newScope(c.Cwd)
	if len(command) > maxInput {
		w.add(Step{Kind: Mutating, Opaque: true, Argv: []string{truncate(command, 200)}, Reason: "command too long to check"})
	} else {
		w.script(command, sc, input{}, 0)
	}
	if len(w.steps) == 0 {
		w.steps = append(w.steps, Step{Kind: ReadOnly, Reason: "no command"})
	}
	return w.steps
}

// ClassifyWrite classifies writing (creating, editing, deleting) the file at
// p, relative paths taken against c.Cwd: Never under the repos dir, in data
// volumes, secrets, network configuration, the agent's own configuration or
// devices; otherwise Mutating, with SafeFix set when Tier 2 may do it (not an
// executable, library, startup or privilege path).
func (c Classifier) ClassifyWrite(p string) Step {
	w := &walker{repos: cleanAbs(c.ReposDir)}
	sc := newScope(c.Cwd)
	k, reason, opaque := w.pathRisk(arg{s: p, lit: true}, sc, writeContent)
	st := Step{Kind: k, Argv: []string{p}, Reason: reason, Opaque: opaque}
	if k == Mutating && !opaque {
		abs, ok := sc.resolve(p)
		st.SafeFix = ok && !IsExecPath(abs)
		if !st.SafeFix && st.Reason == "writes "+p {
			st.Reason = "writes an executable, startup or privilege path"
		}
	}
	return st
}

// ClassifyRead classifies reading the file at p: Never for secret files
// (keys, .env, credentials), ReadOnly otherwise.
func (c Classifier) ClassifyRead(p string) Step {
	sc := newScope(c.Cwd)
	abs, ok := sc.resolve(p)
	if !ok {
		abs = p
	}
	if r := secretPath(abs); r != "" {
		return Step{Kind: Never, Argv: []string{p}, Reason: "reads " + r}
	}
	return Step{Kind: ReadOnly, Argv: []string{p}, Reason: "reads a file"}
}

// --- scope -----------------------------------------------------------------

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

// --- walker ----------------------------------------------------------------

// arg is one word of a command after quote removal.
type arg struct {
	s   string // value, or the source text when not literal
	lit bool
}

func lits(ss ...string) []arg {
	out := make([]arg, len(ss))
	for i, s := range ss {
		out[i] = arg{s: s, lit: true}
	}
	return out
}

// firstWord is the first word of args, or "".
func firstWord(args []arg) string {
	if len(args) == 0 {
		return ""
	}
	return args[0].s
}

func strs(args []arg) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.s
	}
	return out
}

// input is what a command's standard input carries.
type input struct {
	kind int    // inNone, inText, inOpaque
	text string // inText: a literal script
}

const (
	inNone = iota
	inText
	inOpaque
)

type walker struct {
	repos string
	steps []Step
	full  bool
	work  int // statements visited, bounded by maxWork
}

// tick counts work; past maxWork the walk stops with an opaque step.
func (w *walker) tick() bool {
	w.work++
	if w.work > maxWork && !w.full {
		w.steps = append(w.steps, Step{Kind: Mutating, Opaque: true, Reason: "command too complex to check"})
		w.full = true
	}
	return !w.full
}

func (w *walker) add(s Step) {
	if w.full {
		return
	}
	if len(w.steps) >= maxSteps {
		w.steps = append(w.steps, Step{Kind: Mutating, Opaque: true, Reason: "too many commands to check"})
		w.full = true
		return
	}
	w.steps = append(w.steps, s)
}

func opaque(reason string, argv []string) Step {
	return Step{Kind: Mutating, Opaque: true, Argv: argv, Reason: reason}
}

// script parses and walks shell source.
func (w *walker) script(src string, sc *scope, in input, depth int) {
	if !w.tick() {
		return
	}
	if depth > maxDepth {
		w.add(opaque("commands nested too deep to check", []string{truncate(src, 200)}))
		return
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), "")
	if err != nil {
		w.add(opaque("cannot parse shell: "+truncate(err.Error(), 200), []string{truncate(src, 200)}))
		return
	}
	w.stmts(f.Stmts, sc, in, depth)
}

func (w *walker) stmts(list []*syntax.Stmt, sc *scope, in input, depth int) {
	for _, s := range list {
		if w.full {
			return
		}
		w.stmt(s, sc, in, depth)
	}
}

// harmlessTargets are redirection targets that write nothing.
var harmlessTargets = map[string]bool{
	"/dev/null": true, "/dev/stdout": true, "/dev/stderr": true, "/dev/tty": true,
	"/dev/zero": true, "/dev/full": true,
}

func (w *walker) stmt(s *syntax.Stmt, sc *scope, in input, depth int) {
	if !w.tick() {
		return
	}
	var writes []arg
	for _, r := range s.Redirs {
		if r.Word != nil {
			w.substs(r.Word, sc, depth)
		}
		switch r.Op {
		case syntax.Hdoc, syntax.DashHdoc:
			in = w.hdoc(r, sc, depth)
		case syntax.WordHdoc:
			if v, ok := w.value(r.Word, sc); ok {
				in = input{kind: inText, text: v}
			} else {
				in = input{kind: inOpaque}
			}
		case syntax.RdrIn:
			in = input{kind: inOpaque}
		case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.AppClob, syntax.RdrAll,
			syntax.AppAll, syntax.RdrAllClob, syntax.AppAllClob, syntax.RdrInOut:
			writes = append(writes, w.arg(r.Word, sc))
		case syntax.DplOut:
			a := w.arg(r.Word, sc)
			if !a.lit || !isFD(a.s) {
				writes = append(writes, a)
			}
		}
	}
	if s.Cmd != nil {
		w.command(s.Cmd, sc, in, depth)
	}
	for _, t := range writes {
		if t.lit && (harmlessTargets[t.s] || strings.HasPrefix(t.s, "/dev/fd/")) {
			continue
		}
		k, reason, op := w.pathRisk(t, sc, writeContent)
		w.add(Step{Kind: k, Argv: []string{">", t.s}, Reason: "output redirection " + reason, Opaque: op})
	}
}

func isFD(s string) bool {
	if s == "-" {
		return true
	}
	_, err := strconv.Atoi(strings.TrimSuffix(s, "-"))
	return err == nil
}

// hdoc returns the here-document of r as an input. Command substitutions in an
// unquoted here-document run, so they are walked.
func (w *walker) hdoc(r *syntax.Redirect, sc *scope, depth int) input {
	if r.Hdoc == nil {
		return input{kind: inText}
	}
	quoted := false
	for _, p := range r.Word.Parts {
		if _, ok := p.(*syntax.Lit); !ok {
			quoted = true
		}
	}
	if r.Word.Lit() != "" && strings.ContainsAny(r.Word.Lit(), `\`) {
		quoted = true
	}
	if quoted {
		var b strings.Builder
		for _, p := range r.Hdoc.Parts {
			if l, ok := p.(*syntax.Lit); ok {
				b.WriteString(l.Value)
			}
		}
		return input{kind: inText, text: b.String()}
	}
	w.substs(r.Hdoc, sc, depth)
	var b strings.Builder
	for _, p := range r.Hdoc.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(unescapeHdoc(p.Value))
		case *syntax.ParamExp:
			v, ok := w.param(p, sc)
			if !ok {
				return input{kind: inOpaque}
			}
			b.WriteString(v)
		default:
			return input{kind: inOpaque}
		}
	}
	return input{kind: inText, text: b.String()}
}

func (w *walker) command(cmd syntax.Command, sc *scope, in input, depth int) {
	switch c := cmd.(type) {
	case *syntax.CallExpr:
		w.call(c, sc, in, depth)
	case *syntax.BinaryCmd:
		switch c.Op {
		case syntax.Pipe, syntax.PipeAll:
			w.stmt(c.X, sc.clone(), in, depth)
			w.stmt(c.Y, sc.clone(), input{kind: inOpaque}, depth)
		default: // && and ||: Y may or may not run
			w.stmt(c.X, sc, in, depth)
			b := sc.clone()
			w.stmt(c.Y, b, in, depth)
			sc.merge(b)
		}
	case *syntax.Subshell:
		w.stmts(c.Stmts, sc.clone(), in, depth)
	case *syntax.Block:
		w.stmts(c.Stmts, sc, in, depth)
	case *syntax.IfClause:
		for ic := c; ic != nil; ic = ic.Else {
			b := sc.clone()
			w.stmts(ic.Cond, b, in, depth)
			w.stmts(ic.Then, b, in, depth)
			sc.merge(b)
		}
	case *syntax.WhileClause:
		b := sc.clone()
		w.stmts(c.Cond, b, in, depth)
		w.stmts(c.Do, b, in, depth)
		sc.merge(b)
		// A second pass sees what the first iteration changed as unknown.
		b = sc.clone()
		w.stmts(c.Do, b, in, depth)
		sc.merge(b)
	case *syntax.ForClause:
		w.forClause(c, sc, in, depth)
	case *syntax.CaseClause:
		w.substs(c.Word, sc, depth)
		for _, it := range c.Items {
			for _, p := range it.Patterns {
				w.substs(p, sc, depth)
			}
			b := sc.clone()
			w.stmts(it.Stmts, b, in, depth)
			sc.merge(b)
		}
	case *syntax.FuncDecl:
		// The body runs whenever the function is called: check it here, and
		// calls to the function add nothing.
		if c.Name != nil {
			sc.funcs[c.Name.Value] = true
		}
		for _, n := range c.Names {
			sc.funcs[n.Value] = true
		}
		if c.Body != nil {
			b := sc.clone()
			for i := 0; i < 10; i++ {
				b.vars[strconv.Itoa(i)] = val{}
			}
			w.stmt(c.Body, b, input{kind: inOpaque}, depth)
			sc.merge(b)
		}
	case *syntax.DeclClause:
		w.decl(c, sc, depth)
	case *syntax.TimeClause:
		if c.Stmt != nil {
			w.stmt(c.Stmt, sc, in, depth)
		}
	case *syntax.CoprocClause:
		if c.Stmt != nil {
			w.stmt(c.Stmt, sc.clone(), in, depth)
		}
	case *syntax.ArithmCmd, *syntax.LetClause, *syntax.TestClause:
		w.substs(c, sc, depth)
		w.forgetArithm(c, sc)
		w.add(Step{Kind: ReadOnly, Argv: []string{"(( ))"}, Reason: "shell test or arithmetic"})
	default:
		w.add(opaque("unsupported shell construct", nil))
	}
}

// forgetArithm marks variables an arithmetic command may assign as unknown.
func (w *walker) forgetArithm(n syntax.Node, sc *scope) {
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.ParamExp:
			if n.Param != nil {
				sc.vars[n.Param.Value] = val{}
			}
		case *syntax.Lit:
			if isName(n.Value) {
				sc.vars[n.Value] = val{}
			}
		}
		return true
	})
}

func (w *walker) forClause(c *syntax.ForClause, sc *scope, in input, depth int) {
	it, ok := c.Loop.(*syntax.WordIter)
	if !ok {
		w.substs(c.Loop, sc, depth)
		w.forgetArithm(c.Loop, sc)
		b := sc.clone()
		w.stmts(c.Do, b, in, depth)
		sc.merge(b)
		return
	}
	var vals []arg
	literal := len(it.Items) > 0
	for _, word := range it.Items {
		w.substs(word, sc, depth)
		for _, a := range w.fields(word, sc) {
			if !a.lit || strings.ContainsAny(a.s, "*?[") {
				literal = false
			}
			vals = append(vals, a)
		}
	}
	if !literal || len(vals) > maxLoopVals {
		vals = []arg{{s: "$" + it.Name.Value}}
	}
	for _, v := range vals {
		b := sc.clone()
		b.vars[it.Name.Value] = val{s: v.s, known: v.lit}
		w.stmts(c.Do, b, in, depth)
		sc.merge(b)
	}
	sc.vars[it.Name.Value] = val{}
}

func (w *walker) decl(c *syntax.DeclClause, sc *scope, depth int) {
	variant := ""
	if c.Variant != nil {
		variant = c.Variant.Value
	}
	for _, a := range c.Args {
		if a.Value != nil {
			w.substs(a.Value, sc, depth)
		}
		if a.Array != nil {
			w.substs(a.Array, sc, depth)
		}
		if a.Name == nil {
			if a.Naked && a.Value != nil {
				v, ok := w.value(a.Value, sc)
				if !ok {
					w.add(opaque(variant+" with a dynamic argument", []string{variant, w.src(a.Value)}))
				} else if name, _, isAssign := strings.Cut(v, "="); isAssign && isName(name) {
					if dangerousVar(name) {
						w.add(opaque("sets "+name+", which changes what commands run", []string{variant, v}))
					}
					sc.vars[name] = val{}
				}
			}
			continue
		}
		name := a.Name.Value
		if dangerousVar(name) && (a.Value != nil || a.Array != nil) {
			w.add(opaque("sets "+name+", which changes what commands run", []string{variant, name}))
		}
		switch {
		case a.Naked && variant == "export":
			// export NAME keeps its value
		case a.Value != nil && a.Index == nil && !a.Append:
			v, ok := w.value(a.Value, sc)
			sc.vars[name] = val{s: v, known: ok}
		case a.Naked:
			sc.vars[name] = val{known: true}
		default:
			sc.vars[name] = val{}
		}
	}
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

// call classifies a simple command.
func (w *walker) call(c *syntax.CallExpr, sc *scope, in input, depth int) {
	for _, a := range c.Assigns {
		if a.Value != nil {
			w.substs(a.Value, sc, depth)
		}
		if a.Array != nil {
			w.substs(a.Array, sc, depth)
		}
		if a.Index != nil {
			w.substs(a.Index, sc, depth)
		}
	}
	for _, word := range c.Args {
		w.substs(word, sc, depth)
	}
	for _, a := range c.Assigns {
		if a.Name != nil && dangerousVar(a.Name.Value) {
			w.add(opaque("sets "+a.Name.Value+", which changes what commands run", []string{a.Name.Value + "=..."}))
		}
	}
	if len(c.Args) == 0 {
		for _, a := range c.Assigns {
			if a.Name == nil {
				continue
			}
			if a.Value != nil && a.Index == nil && !a.Append {
				v, ok := w.value(a.Value, sc)
				sc.vars[a.Name.Value] = val{s: v, known: ok}
			} else if a.Value == nil && a.Array == nil {
				sc.vars[a.Name.Value] = val{known: true}
			} else {
				sc.vars[a.Name.Value] = val{}
			}
		}
		return
	}
	var args []arg
	for _, word := range c.Args {
		args = append(args, w.fields(word, sc)...)
	}
	w.argv(args, sc, in, depth, false)
}

// trustedDirs hold the system's own programs: a command named by a path
// elsewhere may be anything, whatever its name.
var trustedDirs = map[string]bool{
	"/bin": true, "/sbin": true, "/usr/bin": true, "/usr/sbin": true,
	"/usr/local/bin": true, "/usr/local/sbin": true, "/snap/bin": true,
}

// argv classifies one command given as words. appended says more arguments
// come from standard input (xargs, find -exec): its targets are unknown.
func (w *walker) argv(args []arg, sc *scope, in input, depth int, appended bool) {
	if len(args) == 0 {
		w.add(Step{Kind: ReadOnly, Reason: "no command"})
		return
	}
	if depth > maxDepth {
		w.add(opaque("commands nested too deep to check", strs(args)))
		return
	}
	name := args[0]
	if !name.lit {
		w.add(opaque("the command name is not literal", strs(args)))
		return
	}
	base, trusted := name.s, true
	if strings.Contains(name.s, "/") {
		dir := path.Dir(path.Clean(name.s))
		base = path.Base(name.s)
		trusted = trustedDirs[dir]
		if dir == "/etc/init.d" || dir == "/etc/rc.d" {
			// /etc/init.d/nginx restart is "service nginx restart".
			w.argv(append(lits("service", base), args[1:]...), sc, in, depth+1, appended)
			return
		}
	} else if sc.funcs[base] {
		return // the function's body was checked where it was defined
	}
	start := len(w.steps)
	cl := &call{w: w, sc: sc, in: in, depth: depth, args: append([]arg{{s: base, lit: true}}, args[1:]...), appended: appended}
	cl.dispatch()
	if !trusted {
		for i := start; i < len(w.steps); i++ {
			s := &w.steps[i]
			s.SafeFix = false
			if s.Kind == ReadOnly {
				s.Kind = Mutating
				s.Reason = "runs " + name.s + ", which is not a system program"
			}
		}
	}
}

// --- words -----------------------------------------------------------------

// src prints a node as shell source.
func (w *walker) src(n syntax.Node) string {
	var b strings.Builder
	if err := syntax.NewPrinter(syntax.Minify(true)).Print(&b, n); err != nil {
		return "?"
	}
	return truncate(b.String(), 200)
}

// substs walks the command and process substitutions inside n: they are
// commands too. Their variables stay in their own subshell.
func (w *walker) substs(n syntax.Node, sc *scope, depth int) {
	if n == nil {
		return
	}
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			w.stmts(n.Stmts, sc.clone(), input{}, depth)
			return false
		case *syntax.ProcSubst:
			in := input{}
			if n.Op == syntax.CmdOut {
				in = input{kind: inOpaque}
			}
			w.stmts(n.Stmts, sc.clone(), in, depth)
			return false
		}
		return true
	})
}

// arg evaluates a word that is not split (a redirection target).
func (w *walker) arg(word *syntax.Word, sc *scope) arg {
	if v, ok := w.value(word, sc); ok {
		return arg{s: v, lit: true}
	}
	return arg{s: w.src(word)}
}

// fields evaluates a command word: unquoted expansions are split on blanks,
// as the shell does.
func (w *walker) fields(word *syntax.Word, sc *scope) []arg {
	v, ok := w.value(word, sc)
	if !ok {
		return []arg{{s: w.src(word)}}
	}
	split := false
	for _, p := range word.Parts {
		switch p.(type) {
		case *syntax.ParamExp, *syntax.CmdSubst:
			split = true
		}
	}
	if !split {
		return []arg{{s: v, lit: true}}
	}
	return lits(strings.Fields(v)...)
}

// value is a word's value after quote removal, when it can be known without
// running anything but echo/printf of literals.
func (w *walker) value(word *syntax.Word, sc *scope) (string, bool) {
	if word == nil {
		return "", true
	}
	var b strings.Builder
	for _, p := range word.Parts {
		if !w.part(&b, p, sc, false) {
			return "", false
		}
	}
	return b.String(), true
}

func (w *walker) part(b *strings.Builder, p syntax.WordPart, sc *scope, inDQ bool) bool {
	switch p := p.(type) {
	case *syntax.Lit:
		if inDQ {
			b.WriteString(unescapeDQ(p.Value))
		} else {
			b.WriteString(unescape(p.Value))
		}
	case *syntax.SglQuoted:
		if p.Dollar {
			b.WriteString(ansiC(p.Value))
		} else {
			b.WriteString(p.Value)
		}
	case *syntax.DblQuoted:
		for _, q := range p.Parts {
			if !w.part(b, q, sc, true) {
				return false
			}
		}
	case *syntax.ParamExp:
		v, ok := w.param(p, sc)
		if !ok {
			return false
		}
		b.WriteString(v)
	case *syntax.CmdSubst:
		v, ok := echoValue(p, w, sc)
		if !ok {
			return false
		}
		b.WriteString(v)
	default:
		return false
	}
	return true
}

func (w *walker) param(p *syntax.ParamExp, sc *scope) (string, bool) {
	if p.Param == nil || p.Excl || p.Length || p.Width || p.Index != nil || p.Slice != nil ||
		p.Repl != nil || p.Names != 0 || p.Exp != nil || p.NestedParam != nil || p.Flags != nil ||
		len(p.Modifiers) > 0 || p.IsSet {
		return "", false
	}
	v, ok := sc.vars[p.Param.Value]
	if !ok || !v.known {
		return "", false
	}
	return v.s, true
}

// echoValue evaluates $(echo literal) and $(printf literal).
func echoValue(c *syntax.CmdSubst, w *walker, sc *scope) (string, bool) {
	if len(c.Stmts) != 1 || len(c.Stmts[0].Redirs) > 0 {
		return "", false
	}
	ce, ok := c.Stmts[0].Cmd.(*syntax.CallExpr)
	if !ok || len(ce.Assigns) > 0 || len(ce.Args) == 0 {
		return "", false
	}
	var args []string
	for _, word := range ce.Args {
		v, ok := w.value(word, sc)
		if !ok {
			return "", false
		}
		args = append(args, v)
	}
	switch args[0] {
	case "echo":
		rest := args[1:]
		if len(rest) > 0 && rest[0] == "-n" {
			rest = rest[1:]
		}
		if len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
			return "", false
		}
		return strings.Join(rest, " "), true
	case "printf":
		if len(args) == 2 && !strings.ContainsAny(args[1], `%\`) {
			return args[1], true
		}
	}
	return "", false
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unescapeDQ(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unescapeHdoc(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\\\n", s[i+1]) >= 0 {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ansiC decodes the body of $'...'.
func ansiC(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'e', 'E':
			b.WriteByte(0x1b)
		case '\\', '\'', '"', '?':
			b.WriteByte(e)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			j := i + 1
			for j < len(s) && j < i+1+n && isHex(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			v, _ := strconv.ParseUint(s[i+1:j], 16, 32)
			if e == 'x' {
				b.WriteByte(byte(v))
			} else {
				b.WriteRune(rune(v))
			}
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(s[i:j], 8, 16)
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// --- option parsing --------------------------------------------------------

// optSpec describes a command's options.
type optSpec struct {
	short string   // short options that take a value
	long  []string // long options that take a value (without "--")
	stop  bool     // options end at the first operand (wrappers)
}

// opts is a parsed command line.
type opts struct {
	set map[string]string // "-x" or "--name" → value ("" for flags)
	pos []arg             // operands; with stop, the rest from the first operand
}

func (o opts) has(names ...string) bool {
	for _, n := range names {
		if _, ok := o.set[n]; ok {
			return true
		}
	}
	return false
}

func (o opts) get(names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := o.set[n]; ok {
			return v, true
		}
	}
	return "", false
}

func parseOpts(args []arg, spec optSpec) opts {
	o := opts{set: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !a.lit || a.s == "-" || !strings.HasPrefix(a.s, "-") {
			if spec.stop {
				o.pos = args[i:]
				return o
			}
			o.pos = append(o.pos, a)
			continue
		}
		if a.s == "--" {
			o.pos = append(o.pos, args[i+1:]...)
			return o
		}
		if strings.HasPrefix(a.s, "--") {
			name, v, hasV := strings.Cut(a.s[2:], "=")
			if !hasV && slices.Contains(spec.long, name) && i+1 < len(args) {
				i++
				v = args[i].s
			}
			o.set["--"+name] = v
			continue
		}
		s := a.s[1:]
		for j := 0; j < len(s); j++ {
			c := s[j]
			if strings.IndexByte(spec.short, c) >= 0 {
				v := s[j+1:]
				if v == "" && i+1 < len(args) {
					i++
					v = args[i].s
				}
				o.set["-"+string(c)] = v
				break
			}
			o.set["-"+string(c)] = ""
		}
	}
	return o
}

// --- paths -----------------------------------------------------------------

func cleanAbs(p string) string {
	if p == "" || !path.IsAbs(p) {
		return ""
	}
	return path.Clean(p)
}

// writeMode says how a command touches a path.
type writeMode int

const (
	writeContent writeMode = iota // creates or changes the file
	writeMeta                     // changes owner or mode only
	destroy                       // removes it, recursively: ancestors count
)

// volumeDirs hold container data volumes.
var volumeDirs = []string{"/var/lib/docker", "/var/lib/containers", "/var/lib/kubelet/pods", "/var/lib/rancher", "/var/lib/longhorn"}

// systemTops are directories whose removal destroys the host.
var systemTops = []string{"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt",
	"/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/mnt", "/data"}

// networkFiles are network configuration.
var networkFiles = []string{"/etc/network", "/etc/netplan", "/etc/sysconfig/network-scripts",
	"/etc/NetworkManager", "/etc/resolv.conf", "/etc/hosts", "/etc/iptables", "/etc/nftables.conf",
	"/etc/ufw", "/etc/firewalld", "/etc/systemd/network", "/etc/wireguard", "/etc/dhcp"}

// execDirs are paths whose contents run as code: writing them is not a Tier 2
// fix, whatever the tool.
var execDirs = []string{"/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/snap",
	"/opt", "/boot", "/etc/systemd", "/lib/systemd", "/run/systemd", "/etc/init.d", "/etc/rc.d",
	"/etc/rc.local", "/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/cron.weekly",
	"/etc/cron.monthly", "/etc/crontab", "/var/spool/cron", "/etc/profile", "/etc/profile.d",
	"/etc/bash.bashrc", "/etc/environment", "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/sudoers", "/etc/sudoers.d", "/etc/pam.d", "/etc/security", "/etc/apt", "/etc/yum.repos.d",
	"/etc/docker", "/etc/containerd", "/etc/udev", "/etc/modprobe.d", "/etc/sysctl.conf", "/etc/sysctl.d",
	"/etc/supervisor", "/etc/logrotate.d", "/var/run/docker.sock", "/run/docker.sock"}

// IsExecPath reports whether writing the absolute path p can make code run:
// binaries, libraries, service units, cron, shell start-up files, sudoers,
// the container runtime's configuration.
func IsExecPath(p string) bool {
	p = path.Clean(p)
	for _, d := range execDirs {
		if under(p, d) {
			return true
		}
	}
	switch path.Base(p) {
	case ".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zprofile", ".bash_logout",
		".pam_environment", "authorized_keys", "crontab":
		return true
	}
	return false
}

// under reports whether p is d or inside it (both clean and absolute).
func under(p, d string) bool {
	return p == d || d == "/" || strings.HasPrefix(p, d+"/")
}

// covers compares a path (which may hold glob characters) with a protected
// directory: in reports the path is the directory or inside it; above that it
// is one of its ancestors (removing it removes the directory).
func covers(p, dir string) (in, above bool) {
	if dir == "" {
		return false, false
	}
	pc := splitPath(p)
	dc := splitPath(dir)
	n := min(len(pc), len(dc))
	for i := 0; i < n; i++ {
		ok, err := path.Match(pc[i], dc[i])
		if err != nil || !ok {
			if pc[i] != dc[i] {
				return false, false
			}
		}
		if pc[i] == "**" {
			return true, true
		}
	}
	if len(pc) >= len(dc) {
		return true, false
	}
	return false, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// secretPath returns what kind of secret p is, or "".
func secretPath(p string) string {
	base := path.Base(p)
	comps := splitPath(p)
	for _, c := range comps[:max(0, len(comps)-1)] {
		switch c {
		case ".ssh", "secrets", ".gnupg", ".aws", ".kube", ".docker", ".claude", ".config/gcloud", "private":
			return "a secret file (" + c + "/)"
		}
	}
	switch {
	case base == ".env" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env"),
		strings.HasSuffix(base, ".pem"), strings.HasSuffix(base, ".key"), strings.HasSuffix(base, ".p12"),
		strings.HasSuffix(base, ".pfx"), strings.HasSuffix(base, ".jks"), strings.HasSuffix(base, ".keystore"),
		strings.HasPrefix(base, "id_rsa"), strings.HasPrefix(base, "id_ed25519"), strings.HasPrefix(base, "id_ecdsa"),
		strings.HasPrefix(base, "id_dsa"), base == ".netrc", base == ".pgpass", base == ".my.cnf",
		base == ".htpasswd", base == "htpasswd", base == ".git-credentials", base == "credentials",
		base == "credentials.json", base == ".vault-token", base == "kubeconfig", base == ".claude.json",
		strings.Contains(strings.ToLower(base), "secret"), strings.Contains(strings.ToLower(base), "password"):
		return "a secret file (" + base + ")"
	}
	switch p {
	case "/etc/shadow", "/etc/gshadow", "/etc/passwd", "/etc/group", "/etc/shadow-", "/etc/passwd-",
		"/etc/master.passwd", "/etc/security/opasswd":
		return "the password database (" + p + ")"
	}
	return ""
}

// pathRisk classifies touching a path.
func (w *walker) pathRisk(a arg, sc *scope, mode writeMode) (Kind, string, bool) {
	if !a.lit {
		return Mutating, "writes a path that is not literal (" + a.s + ")", true
	}
	p := a.s
	if p == "" {
		return Mutating, "writes an empty path", false
	}
	abs, ok := sc.resolve(p)
	if !ok {
		if w.repos != "" {
			return Never, "writes " + p + ", relative to an unknown directory that may be the repos dir", false
		}
		return Mutating, "writes " + p, true
	}
	if !sc.remote || path.IsAbs(p) {
		if in, above := covers(abs, w.repos); in || (above && mode == destroy) {
			return Never, "modifies files under the repos dir (" + abs + ")", false
		}
	}
	for _, d := range volumeDirs {
		if in, above := covers(abs, d); in || (above && mode == destroy) {
			return Never, "touches data volumes (" + abs + ")", false
		}
	}
	if mode == destroy {
		for _, t := range systemTops {
			if in, _ := covers(t, abs); in && len(splitPath(abs)) <= 1 {
				return Never, "destroys a system directory (" + abs + ")", false
			}
		}
		if abs == "/" || strings.ContainsAny(path.Dir(abs), "*?[") && len(splitPath(abs)) <= 2 {
			return Never, "destroys a system directory (" + abs + ")", false
		}
	}
	if mode != writeMeta {
		if r := secretPath(abs); r != "" {
			return Never, "writes " + r, false
		}
	}
	for _, n := range networkFiles {
		if in, _ := covers(abs, n); in {
			return Never, "changes network configuration (" + abs + ")", false
		}
	}
	if strings.HasPrefix(abs, "/dev/") && !harmlessTargets[abs] && !strings.HasPrefix(abs, "/dev/fd/") &&
		!strings.HasPrefix(abs, "/dev/shm/") {
		return Never, "writes a device (" + abs + ")", false
	}
	if strings.HasPrefix(abs, "/proc/sys/net") {
		return Never, "changes network configuration (" + abs + ")", false
	}
	return Mutating, "writes " + p, false
}

// --- per-command classification -------------------------------------------

// call is one command being classified; args[0] is its base name.
type call struct {
	w        *walker
	sc       *scope
	in       input
	depth    int
	args     []arg
	appended bool
}

func (c *call) argv() []string { return strs(c.args) }

func (c *call) add(k Kind, reason string) {
	c.w.add(Step{Kind: k, Argv: c.argv(), Reason: reason})
}

func (c *call) readOnly(reason string) { c.add(ReadOnly, reason) }
func (c *call) mutating(reason string) { c.add(Mutating, reason) }
func (c *call) never(reason string)    { c.add(Never, reason) }

// inner classifies a wrapped command.
func (c *call) inner(args []arg) {
	c.w.argv(args, c.sc, c.in, c.depth+1, c.appended)
}

// shell classifies a string run by a shell; sc is the shell's scope.
func (c *call) shell(a arg, sc *scope, in input) {
	if !a.lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "runs a shell command that is not literal"})
		return
	}
	c.w.script(a.s, sc, in, c.depth+1)
}

// targets adds one step of kind k per target; targets that are not literal,
// contain globs, or come from standard input make the step opaque.
func (c *call) targets(k Kind, reason string, targets []arg, strip func(string) string) {
	if c.appended {
		c.w.add(Step{Kind: k, Argv: c.argv(), Reason: reason + "; targets come from standard input", Opaque: true})
		return
	}
	if len(targets) == 0 {
		c.w.add(Step{Kind: k, Argv: c.argv(), Reason: reason})
		return
	}
	for _, t := range targets {
		if !t.lit || strings.ContainsAny(t.s, "*?[]{}$`") || t.s == "" {
			c.w.add(Step{Kind: k, Argv: c.argv(), Reason: reason + "; target " + t.s + " is not literal", Opaque: true})
			continue
		}
		svc := t.s
		if strip != nil {
			svc = strip(svc)
		}
		c.w.add(Step{Kind: k, Service: svc, Argv: c.argv(), Reason: reason})
	}
}

// writes adds a step for writing each path.
func (c *call) writes(paths []arg, mode writeMode, reason string) {
	if c.appended {
		c.w.add(Step{Kind: Mutating, Argv: c.argv(), Reason: reason + "; paths come from standard input", Opaque: true})
		return
	}
	if len(paths) == 0 {
		c.mutating(reason)
		return
	}
	worst := Step{Kind: Mutating, Argv: c.argv(), Reason: reason}
	for _, p := range paths {
		k, r, op := c.w.pathRisk(p, c.sc, mode)
		if k.rank() > worst.Kind.rank() || (op && !worst.Opaque && k.rank() == worst.Kind.rank()) {
			worst = Step{Kind: k, Argv: c.argv(), Reason: reason + ": " + r, Opaque: op}
		}
	}
	c.w.add(worst)
}

var readOnlyCmds = map[string]bool{
	"cat": true, "tac": true, "head": true, "tail": true, "less": true, "more": true, "wc": true,
	"cut": true, "tr": true, "column": true, "paste": true, "join": true, "fold": true, "fmt": true,
	"nl": true, "rev": true, "grep": true, "egrep": true, "fgrep": true, "zgrep": true, "rg": true,
	"ag": true, "jq": true, "ls": true, "dir": true, "tree": true, "stat": true, "file": true,
	"readlink": true, "realpath": true, "basename": true, "dirname": true, "pwd": true, "whoami": true,
	"id": true, "groups": true, "who": true, "w": true, "last": true, "lastlog": true, "uptime": true,
	"uname": true, "arch": true, "nproc": true, "lscpu": true, "lsmem": true, "lsblk": true, "blkid": true,
	"findmnt": true, "df": true, "du": true, "free": true, "vmstat": true, "iostat": true, "mpstat": true,
	"pidstat": true, "sar": true, "ps": true, "pgrep": true, "pidof": true, "pstree": true, "lsof": true,
	"ss": true, "netstat": true, "ping": true, "ping6": true, "traceroute": true, "tracepath": true,
	"mtr": true, "dig": true, "host": true, "nslookup": true, "whois": true, "getent": true, "echo": true,
	"printf": true, "true": true, "false": true, "test": true, "[": true, ":": true, "seq": true,
	"expr": true, "printenv": true, "which": true, "type": true, "whereis": true, "md5sum": true,
	"sha1sum": true, "sha256sum": true, "sha512sum": true, "cksum": true, "diff": true, "cmp": true,
	"comm": true, "strings": true, "od": true, "hexdump": true, "base64": true, "pg_isready": true,
	"lsns": true, "lsmod": true, "lspci": true, "lsusb": true, "sensors": true, "locale": true,
	"tty": true, "cal": true, "history": true, "jobs": true, "wait": true, "exit": true, "return": true,
	"break": true, "continue": true, "shift": true, "set": true, "ulimit": true, "umask": true,
	"envsubst": true, "numfmt": true, "shuf": true, "nmap": true, "zcat": true, "bzcat": true, "xzcat": true,
	"zless": true, "top": true, "htop": true, "systemd-analyze": true, "promtool": true, "iptables-save": true,
	"ip6tables-save": true, "timedatectl": true, "loginctl": true, "getfacl": true, "lsattr": true,
	"ldd": true, "nm": true, "objdump": true, "sha224sum": true, "sha384sum": true, "b2sum": true,
	"dmidecode": true, "free-m": true, "virt-what": true, "systemd-detect-virt": true, "cloud-init": false,
	"hash": true, "shopt": false, "kill": false, "yes": true, "xxd": true, "iconv": true, "tput": true,
	"sleep": true, "date": true, "hostname": true, "dmesg": true, "journalctl": true,
}

func (c *call) dispatch() {
	name := c.args[0].s
	a := c.args[1:]
	switch name {
	case "sudo", "doas", "pkexec", "runuser":
		c.sudo()
	case "su":
		o := parseOpts(a, optSpec{short: "cgGsw", long: []string{"command", "group", "supp-group", "shell", "whitelist-environment"}})
		if v, ok := o.get("-c", "--command"); ok {
			c.shell(arg{s: v, lit: true}, c.sc.child(nil), c.in)
			return
		}
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "su without -c runs a shell on standard input"})
	case "env":
		c.env()
	case "nohup", "setsid", "unbuffer", "builtin", "catchsegv", "chronic":
		o := parseOpts(a, optSpec{stop: true})
		c.inner(o.pos)
	case "exec":
		o := parseOpts(a, optSpec{short: "a", stop: true})
		if len(o.pos) == 0 {
			c.readOnly("exec without a command (redirections only)")
			return
		}
		c.inner(o.pos)
	case "command":
		o := parseOpts(a, optSpec{stop: true})
		if o.has("-v", "-V") {
			c.readOnly("looks a command up")
			return
		}
		c.inner(o.pos)
	case "time":
		o := parseOpts(a, optSpec{short: "fo", long: []string{"format", "output"}, stop: true})
		if v, ok := o.get("-o", "--output"); ok {
			c.writes([]arg{{s: v, lit: true}}, writeContent, "time writes its report")
		}
		c.inner(o.pos)
	case "nice":
		o := parseOpts(a, optSpec{short: "n", long: []string{"adjustment"}, stop: true})
		c.inner(o.pos)
	case "ionice":
		o := parseOpts(a, optSpec{short: "cnpPu", long: []string{"class", "classdata", "pid", "pgid", "uid"}, stop: true})
		c.inner(o.pos)
	case "stdbuf":
		o := parseOpts(a, optSpec{short: "ioe", long: []string{"input", "output", "error"}, stop: true})
		c.inner(o.pos)
	case "timeout":
		o := parseOpts(a, optSpec{short: "sk", long: []string{"signal", "kill-after"}, stop: true})
		if len(o.pos) == 0 {
			c.readOnly("timeout without a command")
			return
		}
		c.inner(o.pos[1:])
	case "chroot":
		o := parseOpts(a, optSpec{long: []string{"userspec", "groups"}, stop: true})
		if len(o.pos) < 2 {
			c.mutating("chroot runs a shell")
			return
		}
		c.inner(append([]arg{{s: "/chroot/" + o.pos[1].s, lit: o.pos[1].lit}}, o.pos[2:]...))
	case "nsenter":
		o := parseOpts(a, optSpec{short: "tSGmunipCUTrw", long: []string{"target", "setuid", "setgid", "root", "wd"}, stop: true})
		if len(o.pos) == 0 {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "nsenter runs an interactive shell"})
			return
		}
		c.inner(o.pos)
	case "flock":
		o := parseOpts(a, optSpec{short: "wEc", long: []string{"timeout", "conflict-exit-code", "command"}, stop: true})
		if v, ok := o.get("-c", "--command"); ok {
			c.shell(arg{s: v, lit: true}, c.sc.child(nil), c.in)
			return
		}
		if len(o.pos) > 1 {
			c.inner(o.pos[1:])
			return
		}
		c.readOnly("flock on a descriptor")
	case "watch":
		o := parseOpts(a, optSpec{short: "nq", long: []string{"interval", "equexit"}, stop: true})
		if o.has("-x", "--exec") {
			c.inner(o.pos)
			return
		}
		c.shellWords(o.pos, c.sc.child(nil), c.in)
	case "xargs":
		c.xargs()
	case "eval":
		c.shellWords(a, c.sc, c.in)
	case "trap":
		if len(a) >= 2 && a[0].lit && a[0].s != "-" && !strings.HasPrefix(a[0].s, "-") {
			c.shell(a[0], c.sc, input{})
			return
		}
		c.readOnly("trap listing or reset")
	case "alias":
		for _, x := range a {
			if _, v, ok := strings.Cut(x.s, "="); ok {
				c.shell(arg{s: v, lit: x.lit}, c.sc, input{})
			}
		}
		c.readOnly("alias")
	case "shopt":
		if slices.ContainsFunc(a, func(x arg) bool { return x.s == "expand_aliases" || !x.lit }) {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "enables aliases"})
			return
		}
		c.readOnly("shell option")
	case "source", ".":
		// The script may set anything: what was known is no longer.
		for k := range c.sc.vars {
			c.sc.vars[k] = val{}
		}
		c.sc.cwdOK = false
		c.mutating("runs a script file")
	case "printf":
		o := parseOpts(a, optSpec{short: "v"})
		if v, ok := o.get("-v"); ok {
			c.sc.vars[v] = val{}
		}
		c.readOnly("printf")
	case "hash":
		o := parseOpts(a, optSpec{short: "pt"})
		if o.has("-p") {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "hash -p changes which program a name runs"})
			return
		}
		c.readOnly("hash")
	case "enable":
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "enable changes shell builtins"})
	case "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "rbash", "yash":
		c.sh(a)
	case "busybox", "toybox":
		if len(a) == 0 {
			c.readOnly("lists applets")
			return
		}
		c.inner(a)
	case "ssh":
		c.ssh()
	case "cd", "pushd", "popd":
		if name == "cd" {
			o := parseOpts(a, optSpec{})
			if len(o.pos) == 0 {
				c.sc.cwdOK = false
			} else {
				c.sc.cd(o.pos[0])
			}
		} else {
			c.sc.cwdOK = false
		}
		c.readOnly("changes directory")
	case "unset":
		o := parseOpts(a, optSpec{})
		for _, x := range o.pos {
			if o.has("-f") {
				delete(c.sc.funcs, x.s)
			} else {
				c.sc.vars[x.s] = val{}
			}
		}
		c.readOnly("unsets variables")
	case "read", "mapfile", "readarray", "getopts", "printf-v":
		for _, x := range a {
			if isName(x.s) {
				c.sc.vars[x.s] = val{}
			}
		}
		c.readOnly("reads input into variables")
	case "declare", "typeset", "local", "export", "readonly":
		// Only reached with non-bash parsing; treat as assignments.
		for _, x := range a {
			if n, _, ok := strings.Cut(x.s, "="); ok {
				if dangerousVar(n) {
					c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "sets " + n})
				}
				c.sc.vars[n] = val{}
			}
		}
		c.readOnly("declares variables")
	case "find":
		c.find()
	case "docker", "podman", "nerdctl":
		c.docker(a)
	case "docker-compose", "podman-compose":
		c.compose(a)
	case "systemctl":
		c.systemctl(a)
	case "service", "rc-service", "invoke-rc.d":
		c.service(a)
	case "supervisorctl", "pm2":
		c.procManager(a)
	case "kubectl", "oc", "microk8s.kubectl", "k3s":
		if name == "k3s" {
			if len(a) > 0 && a[0].s == "kubectl" {
				c.kubectl(a[1:])
				return
			}
			c.mutating("k3s")
			return
		}
		c.kubectl(a)
	case "helm":
		c.helm(a)
	case "ansible-playbook":
		o := parseOpts(a, optSpec{short: "iloefutTMkKbcCs", long: []string{"inventory", "limit", "extra-vars", "forks", "user", "tags", "skip-tags", "vault-password-file", "vault-id", "start-at-task", "connection", "timeout", "become-user", "become-method", "private-key", "module-path"}})
		if o.has("-C", "--check", "--syntax-check", "--list-hosts", "--list-tasks", "--list-tags") {
			c.readOnly("ansible-playbook check mode")
			return
		}
		c.add(Redeploy, "runs an Ansible playbook")
	case "ansible":
		c.ansible(a)
	case "terraform", "tofu", "terragrunt":
		c.terraform(a)
	case "git":
		c.git(a)
	case "rm", "rmdir", "unlink", "shred", "srm", "wipe":
		o := parseOpts(a, optSpec{short: "nsu", long: []string{"interactive", "iterations", "size", "remove"}})
		if o.has("--no-preserve-root") {
			c.never("rm --no-preserve-root")
			return
		}
		c.writes(o.pos, destroy, "removes files")
	case "mv":
		o := parseOpts(a, optSpec{short: "tS", long: []string{"target-directory", "suffix", "backup"}})
		ps := o.pos
		if t, ok := o.get("-t", "--target-directory"); ok {
			ps = append(ps, arg{s: t, lit: true})
		}
		c.writes(ps, destroy, "moves files")
	case "cp", "install", "ln", "link":
		o := parseOpts(a, optSpec{short: "tSmogT", long: []string{"target-directory", "suffix", "mode", "owner", "group", "backup", "reflink", "sparse", "preserve", "no-preserve"}})
		var dst []arg
		if t, ok := o.get("-t", "--target-directory"); ok {
			dst = []arg{{s: t, lit: true}}
		} else if len(o.pos) > 0 {
			dst = o.pos[len(o.pos)-1:]
		}
		if name == "install" && o.has("-d") {
			dst = o.pos
		}
		c.writes(dst, writeContent, name+" writes files")
	case "rsync", "scp":
		c.copyRemote(a)
	case "touch", "mkdir", "truncate", "mkfifo", "mknod", "fallocate":
		o := parseOpts(a, optSpec{short: "dmrtsZlo", long: []string{"date", "mode", "reference", "time", "size", "context", "length", "offset"}})
		ps := o.pos
		if name == "mknod" && len(ps) > 1 {
			ps = ps[:1]
		}
		c.writes(ps, writeContent, name+" creates or changes files")
	case "tee":
		o := parseOpts(a, optSpec{long: []string{"output-error"}})
		var ps []arg
		for _, p := range o.pos {
			if !p.lit || !harmlessTargets[p.s] {
				ps = append(ps, p)
			}
		}
		if len(ps) == 0 {
			c.readOnly("tee to standard output")
			return
		}
		c.writes(ps, writeContent, "tee writes files")
	case "dd":
		var ps []arg
		for _, x := range a {
			if strings.HasPrefix(x.s, "of=") {
				p := arg{s: strings.TrimPrefix(x.s, "of="), lit: x.lit}
				if !p.lit || !harmlessTargets[p.s] {
					ps = append(ps, p)
				}
			}
		}
		if len(ps) == 0 {
			c.readOnly("dd to standard output")
			return
		}
		c.writes(ps, writeContent, "dd writes")
	case "chmod", "chown", "chgrp", "setfacl", "chattr", "chcon":
		c.permFix(a)
	case "sed":
		c.sed(a)
	case "awk", "gawk", "mawk", "nawk":
		c.awk(a)
	case "perl":
		o := parseOpts(a, optSpec{short: "eEIMmlx0i"})
		if o.has("-i") {
			start := 0
			if !o.has("-e", "-E") && len(o.pos) > 0 {
				start = 1
			}
			c.writes(o.pos[start:], writeContent, "perl -i edits files")
			return
		}
		c.mutating("runs a program")
	case "yq":
		o := parseOpts(a, optSpec{})
		if o.has("-i", "--inplace") && len(o.pos) > 1 {
			c.writes(o.pos[1:], writeContent, "yq -i edits files")
			return
		}
		c.readOnly("yq")
	case "sort":
		o := parseOpts(a, optSpec{short: "oktSTz", long: []string{"output", "key", "field-separator", "buffer-size", "temporary-directory", "parallel", "files0-from", "random-source", "compress-program", "sort", "batch-size"}})
		if v, ok := o.get("-o", "--output"); ok {
			c.writes([]arg{{s: v, lit: true}}, writeContent, "sort -o writes a file")
			return
		}
		c.readOnly("sort")
	case "uniq":
		o := parseOpts(a, optSpec{short: "fsw", long: []string{"skip-fields", "skip-chars", "check-chars", "all-repeated", "group"}})
		if len(o.pos) > 1 {
			c.writes(o.pos[1:2], writeContent, "uniq writes its output file")
			return
		}
		c.readOnly("uniq")
	case "curl":
		c.curl(a)
	case "wget":
		c.wget(a)
	case "nc", "ncat", "netcat":
		o := parseOpts(a, optSpec{short: "pswiqTXxIO"})
		if o.has("-z") && !o.has("-l", "-e", "-c") {
			c.readOnly("port check")
			return
		}
		c.mutating("netcat can send data")
	case "openssl":
		if len(a) > 0 && a[0].lit {
			switch a[0].s {
			case "s_client", "x509", "version", "verify", "ciphers", "crl", "asn1parse", "dgst", "list", "errstr", "speed":
				o := parseOpts(a[1:], optSpec{short: ""})
				if v, ok := o.get("-out"); ok && v != "" {
					c.mutating("openssl writes a file")
					return
				}
				c.readOnly("openssl inspection")
				return
			case "passwd", "rand":
				c.readOnly("openssl computation")
				return
			}
		}
		c.mutating("openssl may write keys")
	case "iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy", "iptables-nft", "ip6tables-nft", "ebtables", "arptables":
		c.iptables(a)
	case "iptables-restore", "ip6tables-restore", "iptables-apply", "ipset", "ifup", "ifdown", "ifenslave",
		"vconfig", "dhclient", "netplan", "wpa_cli", "iwconfig", "iw", "tunctl", "ovs-vsctl", "ovs-ofctl":
		if name == "ipset" && len(a) > 0 && (a[0].s == "list" || a[0].s == "-L" || a[0].s == "save") {
			c.readOnly("ipset listing")
			return
		}
		if name == "netplan" && len(a) > 0 && (a[0].s == "get" || a[0].s == "status") {
			c.readOnly("netplan status")
			return
		}
		c.never("changes network configuration")
	case "nft":
		c.nft(a)
	case "ip":
		c.ip(a)
	case "ifconfig":
		o := parseOpts(a, optSpec{})
		if len(o.pos) <= 1 {
			c.readOnly("interface listing")
			return
		}
		c.never("changes network configuration")
	case "route":
		o := parseOpts(a, optSpec{short: "A"})
		if len(o.pos) == 0 {
			c.readOnly("routing table")
			return
		}
		c.never("changes network configuration")
	case "arp":
		o := parseOpts(a, optSpec{short: "HifAt"})
		if o.has("-s", "-d", "-f", "--set", "--delete", "--file") {
			c.never("changes network configuration")
			return
		}
		c.readOnly("arp table")
	case "nmcli":
		c.nmcli(a)
	case "ufw":
		if len(a) == 0 || (a[0].lit && (a[0].s == "status" || a[0].s == "show" || a[0].s == "version" ||
			(a[0].s == "app" && len(a) > 1 && (a[1].s == "list" || a[1].s == "info")))) {
			c.readOnly("firewall status")
			return
		}
		c.never("changes network configuration")
	case "firewall-cmd":
		for _, x := range a {
			if !x.lit || !(strings.HasPrefix(x.s, "--list") || strings.HasPrefix(x.s, "--get") ||
				strings.HasPrefix(x.s, "--query") || strings.HasPrefix(x.s, "--info") || x.s == "--state" ||
				strings.HasPrefix(x.s, "--zone") || x.s == "--permanent") {
				c.never("changes network configuration")
				return
			}
		}
		c.readOnly("firewall status")
	case "tc", "bridge", "brctl", "wg", "resolvectl", "systemd-resolve", "conntrack", "ethtool":
		c.netQuery(name, a)
	case "sysctl":
		o := parseOpts(a, optSpec{short: "p", long: []string{"load", "pattern"}})
		writing := o.has("-w", "--write", "-p", "--load", "--system")
		for _, x := range o.pos {
			if strings.Contains(x.s, "=") {
				writing = true
			}
		}
		if !writing {
			c.readOnly("reads kernel parameters")
			return
		}
		for _, x := range o.pos {
			if strings.HasPrefix(x.s, "net.") || !x.lit {
				c.never("changes network configuration")
				return
			}
		}
		c.mutating("changes kernel parameters")
	case "passwd", "chpasswd", "chage", "htpasswd", "smbpasswd", "gpasswd", "vipw", "vigr", "pwconv",
		"pwunconv", "grpconv", "newusers", "ssh-copy-id", "pdbedit", "kpasswd", "chsh", "chfn":
		c.never("changes passwords or credentials")
	case "usermod", "useradd", "userdel", "groupadd", "groupdel", "groupmod", "adduser", "deluser":
		o := parseOpts(a, optSpec{short: "cdegGlsuLpU"})
		if o.has("-p", "--password", "-L", "--lock", "-U", "--unlock") {
			c.never("changes passwords")
			return
		}
		c.mutating("changes accounts")
	case "ssh-keygen":
		o := parseOpts(a, optSpec{short: "fCNbtEFRmOPZaDIhnrsVz"})
		if o.has("-l", "-y", "-F", "-B") && !o.has("-R") {
			c.readOnly("inspects a key")
			return
		}
		c.never("creates or changes keys")
	case "mysqladmin":
		for _, x := range a {
			if x.s == "password" || x.s == "drop" {
				c.never("mysqladmin " + x.s)
				return
			}
		}
		for _, x := range a {
			if x.lit && !strings.HasPrefix(x.s, "-") {
				switch x.s {
				case "ping", "status", "extended-status", "processlist", "variables", "version":
					continue
				}
				c.mutating("mysqladmin " + x.s)
				return
			}
		}
		c.readOnly("mysqladmin status")
	case "redis-cli":
		c.redis(a)
	case "psql", "mysql", "mariadb", "sqlite3", "clickhouse-client", "cqlsh", "mongosh", "mongo":
		c.sql(name, a)
	case "sleep":
		var total time.Duration
		for _, x := range a {
			d, ok := sleepDuration(x)
			if !ok {
				c.mutating("sleeps for an unbounded or unknown time")
				return
			}
			total += d
		}
		if total > maxSleep {
			c.mutating("sleeps longer than " + maxSleep.String())
			return
		}
		c.readOnly("sleep")
	case "date":
		o := parseOpts(a, optSpec{short: "dfrsI", long: []string{"date", "file", "reference", "set"}})
		if o.has("-s", "--set") {
			c.mutating("sets the clock")
			return
		}
		c.readOnly("date")
	case "hostname", "hostnamectl":
		o := parseOpts(a, optSpec{short: "F", long: []string{"file"}})
		if (name == "hostname" && (len(o.pos) > 0 || o.has("-F", "--file", "-b"))) ||
			(name == "hostnamectl" && len(o.pos) > 0 && o.pos[0].s != "status") {
			c.never("changes the host name (network configuration)")
			return
		}
		c.readOnly("host name")
	case "dmesg":
		o := parseOpts(a, optSpec{short: "FflnsT", long: []string{"file", "facility", "level", "console-level", "buffer-size", "time-format"}})
		if o.has("-c", "-C", "-D", "-E", "-n", "--clear", "--read-clear", "--console-off", "--console-on", "--console-level") {
			c.mutating("changes the kernel log")
			return
		}
		c.readOnly("kernel log")
	case "journalctl":
		for _, x := range a {
			if strings.HasPrefix(x.s, "--vacuum") || x.s == "--rotate" || x.s == "--flush" || x.s == "--sync" ||
				strings.Contains(x.s, "relinquish") || x.s == "--setup-keys" || x.s == "--update-catalog" {
				c.mutating("changes the journal")
				return
			}
		}
		c.readOnly("reads the journal")
	case "mount", "umount", "swapon", "swapoff":
		if len(a) == 0 || (name == "swapon" && len(a) == 1 && (a[0].s == "--show" || a[0].s == "-s")) {
			c.readOnly("mount table")
			return
		}
		c.mutating("changes mounts")
	case "mkfs", "mke2fs", "mkswap", "wipefs", "fdisk", "sfdisk", "parted", "gdisk", "sgdisk",
		"lvremove", "vgremove", "pvremove", "zpool", "zfs", "cryptsetup", "blkdiscard":
		if (name == "zfs" || name == "zpool") && len(a) > 0 && (a[0].s == "list" || a[0].s == "status" || a[0].s == "get") {
			c.readOnly("storage listing")
			return
		}
		if (name == "fdisk" || name == "sfdisk" || name == "parted") && slices.ContainsFunc(a, func(x arg) bool { return x.s == "-l" || x.s == "--list" }) {
			c.readOnly("partition listing")
			return
		}
		c.never("destroys or reformats storage")
	case "amtool":
		if len(a) > 0 && (a[0].s == "alert" || a[0].s == "check-config" || a[0].s == "config") &&
			!slices.ContainsFunc(a, func(x arg) bool { return x.s == "add" }) {
			c.readOnly("alertmanager query")
			return
		}
		if len(a) > 1 && a[0].s == "silence" && (a[1].s == "query" || a[1].s == "q") {
			c.readOnly("alertmanager query")
			return
		}
		c.mutating("changes Alertmanager state")
	case "vault":
		if len(a) > 0 && (a[0].s == "status" || a[0].s == "version" || a[0].s == "read" ||
			(a[0].s == "kv" && len(a) > 1 && (a[1].s == "get" || a[1].s == "list" || a[1].s == "metadata"))) {
			c.readOnly("vault read")
			return
		}
		c.never("changes secrets")
	case "gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zstd", "unzstd":
		o := parseOpts(a, optSpec{short: "S", long: []string{"suffix"}})
		if o.has("-c", "--stdout", "-l", "--list", "-t", "--test") {
			c.readOnly("reads an archive")
			return
		}
		c.writes(o.pos, destroy, name+" replaces files")
	case "tar":
		if slices.ContainsFunc(a, func(x arg) bool {
			return x.s == "--list" || (x.lit && !strings.HasPrefix(x.s, "--") && strings.Contains(strings.TrimPrefix(x.s, "-"), "t") && !strings.ContainsAny(strings.TrimPrefix(x.s, "-"), "xcru") && len(x.s) <= 8)
		}) {
			c.readOnly("lists an archive")
			return
		}
		c.w.add(Step{Kind: Mutating, Argv: c.argv(), Reason: "tar writes files"})
		if !c.sc.cwdOK && !c.sc.remote {
			c.writes([]arg{{s: ".", lit: true}}, writeContent, "tar may extract into the working directory")
		} else if k, _, _ := c.w.pathRisk(arg{s: ".", lit: true}, c.sc, writeContent); k == Never && slices.ContainsFunc(a, func(x arg) bool {
			return x.lit && !strings.HasPrefix(x.s, "--") && strings.Contains(x.s, "x")
		}) {
			c.never("tar extracts into the repos dir")
		}
	case "unzip":
		o := parseOpts(a, optSpec{short: "dx"})
		if o.has("-l", "-v", "-t", "-Z", "-p") {
			c.readOnly("lists an archive")
			return
		}
		dir, ok := o.get("-d")
		if !ok {
			dir = "."
		}
		c.writes([]arg{{s: dir, lit: true}}, writeContent, "unzip extracts files")
	case "crontab", "at", "batch", "systemd-run", "runc", "ctr", "crictl":
		if name == "crontab" && len(a) == 1 && a[0].s == "-l" {
			c.readOnly("lists the crontab")
			return
		}
		if name == "crictl" && len(a) > 0 {
			switch a[0].s {
			case "ps", "pods", "images", "inspect", "inspectp", "inspecti", "logs", "stats", "info", "version":
				c.readOnly("container runtime query")
				return
			}
		}
		c.mutating(name + " schedules or runs commands")
	case "reboot", "poweroff", "halt", "shutdown", "init", "telinit", "kexec":
		c.mutating("stops or reboots the host")
	case "python", "python3", "python2", "node", "nodejs", "ruby", "php", "lua", "deno", "bun", "Rscript", "pwsh", "tclsh", "expect", "osascript":
		o := parseOpts(a, optSpec{short: "mWXQ"})
		if o.has("-V", "--version") && len(o.pos) == 0 {
			c.readOnly("interpreter version")
			return
		}
		c.mutating("runs a program the gate cannot inspect")
	default:
		if readOnlyCmds[name] {
			c.readOnly("read-only command")
			return
		}
		c.mutating("unknown command (not on the read-only list)")
	}
}

// shellWords runs words joined by blanks as a shell string (eval, watch, ssh).
func (c *call) shellWords(words []arg, sc *scope, in input) {
	if len(words) == 0 {
		c.readOnly(c.args[0].s + " without a command")
		return
	}
	parts := make([]string, len(words))
	for i, x := range words {
		if !x.lit {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: c.args[0].s + " of a string that is not literal"})
			return
		}
		parts[i] = x.s
	}
	c.shell(arg{s: strings.Join(parts, " "), lit: true}, sc, in)
}

func (c *call) sudo() {
	name := c.args[0].s
	a := c.args[1:]
	spec := optSpec{short: "ughpCDrtUTR", long: []string{"user", "group", "host", "prompt", "close-from", "chdir", "role", "type", "other-user", "command-timeout", "chroot"}, stop: true}
	if name == "doas" {
		spec = optSpec{short: "uC", stop: true}
	}
	if name == "runuser" {
		spec = optSpec{short: "ugGcw", long: []string{"user", "group", "supp-group", "command", "whitelist-environment", "shell"}, stop: true}
	}
	if name == "pkexec" {
		spec = optSpec{long: []string{"user"}, stop: true}
	}
	o := parseOpts(a, spec)
	if v, ok := o.get("-c", "--command"); ok && name == "runuser" {
		c.shell(arg{s: v, lit: true}, c.sc.child(nil), c.in)
		return
	}
	if name == "doas" && o.has("-C") {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "doas with a custom configuration"})
		return
	}
	if o.has("-e", "--edit") {
		c.writes(o.pos, writeContent, "sudoedit edits files")
		return
	}
	rest := o.pos
	for len(rest) > 0 && rest[0].lit && strings.Contains(rest[0].s, "=") && isName(strings.SplitN(rest[0].s, "=", 2)[0]) {
		if n := strings.SplitN(rest[0].s, "=", 2)[0]; dangerousVar(n) {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "sets " + n + ", which changes what commands run"})
		}
		rest = rest[1:]
	}
	if len(rest) == 0 {
		if o.has("-l", "--list", "-v", "--validate", "-k", "-K", "-V", "--version", "-h", "--help") {
			c.readOnly(name + " without a command")
			return
		}
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: name + " opens a shell"})
		return
	}
	if o.has("-l", "--list") {
		c.readOnly("sudo -l")
		return
	}
	if o.has("-s", "--shell", "-i", "--login") {
		c.shellWords(rest, c.sc.child(nil), c.in)
		return
	}
	c.inner(rest)
}

func (c *call) env() {
	o := parseOpts(c.args[1:], optSpec{short: "uCSP", long: []string{"unset", "chdir", "split-string", "block-signal", "default-signal", "ignore-signal"}, stop: true})
	sc := c.sc
	if d, ok := o.get("-C", "--chdir"); ok {
		sc = sc.clone()
		sc.cd(arg{s: d, lit: true})
	}
	rest := o.pos
	for len(rest) > 0 && rest[0].lit && strings.Contains(rest[0].s, "=") {
		n := strings.SplitN(rest[0].s, "=", 2)[0]
		if dangerousVar(n) {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "sets " + n + ", which changes what commands run"})
		}
		rest = rest[1:]
	}
	if s, ok := o.get("-S", "--split-string"); ok {
		words := append([]arg{{s: s, lit: true}}, rest...)
		c.shellWords(words, sc, c.in)
		return
	}
	if len(rest) == 0 {
		c.readOnly("prints the environment")
		return
	}
	c.w.argv(rest, sc, c.in, c.depth+1, c.appended)
}

func (c *call) sh(a []arg) {
	o := parseOpts(a, optSpec{short: "oO", long: []string{"rcfile", "init-file"}})
	var params []arg
	if o.has("-c") {
		if len(o.pos) == 0 {
			c.mutating("shell -c without a command")
			return
		}
		if len(o.pos) > 1 {
			params = o.pos[1:]
		}
		c.shell(o.pos[0], c.sc.child(params), c.in)
		return
	}
	if len(o.pos) > 0 && !o.has("-s") {
		c.mutating("runs a shell script file the gate cannot inspect")
		return
	}
	switch c.in.kind {
	case inText:
		c.w.script(c.in.text, c.sc.child(o.pos), input{}, c.depth+1)
	case inOpaque:
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "a shell runs commands from a pipe or file"})
	default:
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "a shell reads commands from standard input"})
	}
}

func (c *call) ssh() {
	spec := optSpec{short: "BbcDEeFIiJLlmOoPpQRSWw", stop: true}
	o := parseOpts(c.args[1:], spec)
	var remote []arg
	if len(o.pos) > 0 {
		// OpenSSH reads options after the host too; "--" ends them.
		o2 := parseOpts(o.pos[1:], spec)
		remote = o2.pos
		for k, v := range o2.set {
			o.set[k] = v
		}
	}
	for k, v := range o.set {
		lv := strings.ToLower(v)
		if k == "-o" && (strings.HasPrefix(lv, "proxycommand") || strings.HasPrefix(lv, "localcommand") ||
			strings.HasPrefix(lv, "permitlocalcommand") || strings.HasPrefix(lv, "knownhostscommand") ||
			strings.HasPrefix(lv, "proxyusefdpass") || strings.HasPrefix(lv, "include")) {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "ssh option runs a local command"})
			return
		}
		if k == "-F" {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "ssh with a custom configuration may run local commands"})
			return
		}
	}
	if len(o.pos) == 0 {
		c.readOnly("ssh without a host")
		return
	}
	if len(remote) == 0 {
		switch c.in.kind {
		case inText:
			c.w.script(c.in.text, remoteScope(), input{}, c.depth+1)
		default:
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "ssh without a remote command runs whatever standard input holds"})
		}
		return
	}
	c.shellWords(remote, remoteScope(), c.in)
}

func (c *call) xargs() {
	o := parseOpts(c.args[1:], optSpec{short: "adEILnPs", long: []string{"arg-file", "delimiter", "eof", "replace", "max-lines", "max-args", "max-procs", "max-chars", "process-slot-var"}, stop: true})
	rest := o.pos
	repl, hasRepl := o.get("-I", "--replace")
	if v, ok := o.get("-i"); ok {
		repl, hasRepl = v, true
		if repl == "" {
			repl = "{}"
		}
	}
	if len(rest) == 0 {
		c.readOnly("xargs echo")
		return
	}
	if hasRepl {
		rest = slices.Clone(rest)
		for i := range rest {
			if repl != "" && strings.Contains(rest[i].s, repl) {
				rest[i].lit = false
			}
		}
	}
	c.w.argv(rest, c.sc, input{kind: inOpaque}, c.depth+1, true)
}

func (c *call) find() {
	a := c.args[1:]
	var starts []arg
	i := 0
	for i < len(a) && a[i].lit && !strings.HasPrefix(a[i].s, "-") && a[i].s != "(" && a[i].s != "!" {
		starts = append(starts, a[i])
		i++
	}
	if len(starts) == 0 {
		starts = lits(".")
	}
	ro := true
	for ; i < len(a); i++ {
		switch a[i].s {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(a) && a[j].s != ";" && a[j].s != "+" {
				j++
			}
			inner := slices.Clone(a[i+1 : j])
			for k := range inner {
				if strings.Contains(inner[k].s, "{}") {
					inner[k].lit = false
				}
			}
			c.w.argv(inner, c.sc, input{}, c.depth+1, true)
			ro = false
			i = j
		case "-delete":
			c.writes(starts, destroy, "find -delete removes files")
			ro = false
		case "-fprint", "-fprint0", "-fprintf", "-fls":
			if i+1 < len(a) {
				c.writes(a[i+1:i+2], writeContent, "find writes a file")
				ro = false
			}
		}
	}
	if ro {
		c.readOnly("find")
	}
}

// --- containers ------------------------------------------------------------

var dockerGlobal = optSpec{short: "Hcl", long: []string{"host", "context", "config", "log-level", "tlscacert", "tlscert", "tlskey"}, stop: true}

func (c *call) docker(a []arg) {
	g := parseOpts(a, dockerGlobal)
	if len(g.pos) == 0 {
		c.readOnly("docker without a command")
		return
	}
	sub := g.pos[0]
	rest := g.pos[1:]
	if !sub.lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "docker subcommand is not literal"})
		return
	}
	s := sub.s
	// Management commands: docker container restart == docker restart.
	if s == "container" && len(rest) > 0 {
		s, rest = rest[0].s, rest[1:]
		if s == "ls" || s == "list" {
			s = "ps"
		}
		if s == "remove" {
			s = "rm"
		}
		if s == "prune" {
			c.mutating("removes stopped containers")
			return
		}
	}
	switch s {
	case "ps", "inspect", "logs", "stats", "top", "images", "info", "version", "port", "events", "diff",
		"history", "search", "wait":
		c.readOnly("docker " + s)
	case "restart", "start":
		o := parseOpts(rest, optSpec{short: "tsa", long: []string{"time", "timeout", "signal", "detach-keys", "checkpoint", "checkpoint-dir"}})
		c.targets(Restart, "docker "+s, o.pos, nil)
	case "rm":
		o := parseOpts(rest, optSpec{})
		if o.has("-v", "--volumes") {
			c.never("removes containers with their volumes")
			return
		}
		c.mutating("removes containers")
	case "compose":
		c.compose(rest)
	case "volume":
		if len(rest) > 0 {
			switch rest[0].s {
			case "ls", "list", "inspect":
				c.readOnly("docker volume " + rest[0].s)
				return
			case "create":
				c.mutating("creates a volume")
				return
			}
		}
		c.never("deletes data volumes")
	case "system":
		if len(rest) > 0 && (rest[0].s == "df" || rest[0].s == "info" || rest[0].s == "events") {
			c.readOnly("docker system " + rest[0].s)
			return
		}
		c.never("docker system " + firstWord(rest) + " removes data")
	case "network":
		if len(rest) > 0 {
			switch rest[0].s {
			case "ls", "list", "inspect":
				c.readOnly("docker network " + rest[0].s)
				return
			case "rm", "remove", "prune":
				c.never("changes network configuration")
				return
			}
		}
		c.mutating("changes container networks")
	case "image", "builder", "buildx":
		if len(rest) > 0 && (rest[0].s == "ls" || rest[0].s == "list" || rest[0].s == "inspect" || rest[0].s == "history") {
			c.readOnly("docker image " + rest[0].s)
			return
		}
		c.mutating("changes images")
	case "secret":
		if len(rest) > 0 && (rest[0].s == "ls" || rest[0].s == "inspect") {
			c.readOnly("docker secret " + rest[0].s)
			return
		}
		c.never("changes secrets")
	case "context", "config", "node", "plugin", "swarm", "trust", "manifest":
		if len(rest) > 0 && (rest[0].s == "ls" || rest[0].s == "list" || rest[0].s == "inspect" || rest[0].s == "show" || rest[0].s == "ps") {
			c.readOnly("docker " + s + " " + rest[0].s)
			return
		}
		c.mutating("docker " + s)
	case "exec":
		o := parseOpts(rest, optSpec{short: "euw", long: []string{"env", "env-file", "user", "workdir", "detach-keys"}, stop: true})
		if len(o.pos) < 2 {
			c.mutating("docker exec without a command")
			return
		}
		c.w.argv(o.pos[1:], remoteScope(), c.in, c.depth+1, c.appended)
	case "run", "create":
		c.dockerRun(rest)
	case "cp":
		o := parseOpts(rest, optSpec{})
		if len(o.pos) == 2 && !strings.Contains(o.pos[1].s, ":") {
			c.writes(o.pos[1:], writeContent, "docker cp writes host files")
			return
		}
		c.mutating("docker cp")
	case "stack":
		c.dockerStack(rest)
	case "service":
		c.dockerService(rest)
	case "pod":
		if len(rest) > 0 && (rest[0].s == "restart" || rest[0].s == "start") {
			o := parseOpts(rest[1:], optSpec{short: "t", long: []string{"time"}})
			c.targets(Restart, "pod "+rest[0].s, o.pos, nil)
			return
		}
		if len(rest) > 0 && (rest[0].s == "ps" || rest[0].s == "ls" || rest[0].s == "list" || rest[0].s == "inspect" || rest[0].s == "logs" || rest[0].s == "top" || rest[0].s == "stats") {
			c.readOnly("pod " + rest[0].s)
			return
		}
		c.mutating("pod " + firstWord(rest))
	case "login", "logout", "pull", "push", "build", "tag", "load", "save", "import", "export", "commit",
		"stop", "kill", "pause", "unpause", "rename", "update", "attach", "rmi", "prune":
		c.mutating("docker " + s)
	default:
		c.mutating("docker " + s + " is not known to be read-only")
	}
}

func (c *call) dockerRun(rest []arg) {
	o := parseOpts(rest, optSpec{short: "aceEhlmpPuvwt", long: []string{"volume", "mount", "env", "env-file", "name", "network", "net", "user", "workdir", "entrypoint", "label", "publish", "expose", "hostname", "memory", "cpus", "restart", "add-host", "device", "cap-add", "cap-drop", "pid", "ipc", "uts", "userns", "volumes-from", "log-driver", "log-opt", "platform", "pull", "security-opt", "tmpfs", "ulimit", "dns", "runtime", "gpus", "health-cmd", "stop-signal", "shm-size", "cgroupns", "cidfile"}, stop: true})
	if o.has("--privileged") {
		c.never("a privileged container escapes every check")
		return
	}
	for _, k := range []string{"--pid", "--ipc", "--uts", "--userns", "--cgroupns"} {
		if v, ok := o.get(k); ok && v == "host" {
			c.never("a container sharing the host's namespaces escapes every check")
			return
		}
	}
	var mounts []string
	for k, v := range o.set {
		if k == "-v" || k == "--volume" || k == "--mount" {
			mounts = append(mounts, v)
		}
	}
	// Only the last -v survives in the map; scan the raw words for the rest.
	for i, x := range rest {
		if (x.s == "-v" || x.s == "--volume" || x.s == "--mount") && i+1 < len(rest) {
			mounts = append(mounts, rest[i+1].s)
		} else if strings.HasPrefix(x.s, "--volume=") || strings.HasPrefix(x.s, "--mount=") || (strings.HasPrefix(x.s, "-v") && len(x.s) > 2) {
			_, v, _ := strings.Cut(x.s, "=")
			if strings.HasPrefix(x.s, "-v") && !strings.HasPrefix(x.s, "--") {
				v = x.s[2:]
			}
			mounts = append(mounts, v)
		}
	}
	for _, m := range mounts {
		src, ro := mountSource(m)
		if !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "~") {
			continue // a named volume
		}
		if strings.Contains(src, "docker.sock") || strings.Contains(src, "containerd.sock") || strings.Contains(src, "podman.sock") {
			c.never("mounting the container runtime's socket escapes every check")
			return
		}
		if ro {
			continue
		}
		if k, r, _ := c.w.pathRisk(arg{s: src, lit: true}, c.sc, destroy); k == Never {
			c.never("mounts a protected path writable: " + r)
			return
		}
	}
	c.mutating("starts a new container")
}

// mountSource returns the host side of a -v or --mount value and whether it
// is read-only.
func mountSource(m string) (string, bool) {
	if strings.Contains(m, "source=") || strings.Contains(m, "src=") {
		src, ro := "", false
		for _, kv := range strings.Split(m, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "source", "src":
				src = v
			case "readonly", "ro":
				ro = v == "" || v == "true" || v == "1"
			}
		}
		return src, ro
	}
	parts := strings.Split(m, ":")
	ro := len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")
	return parts[0], ro
}

func (c *call) dockerStack(rest []arg) {
	if len(rest) == 0 {
		c.readOnly("docker stack")
		return
	}
	switch rest[0].s {
	case "deploy", "up":
		o := parseOpts(rest[1:], optSpec{short: "c", long: []string{"compose-file", "resolve-image", "orchestrator"}})
		c.targets(Redeploy, "docker stack deploy", o.pos, nil)
	case "ls", "list", "ps", "services", "config":
		c.readOnly("docker stack " + rest[0].s)
	default:
		c.mutating("docker stack " + rest[0].s)
	}
}

func (c *call) dockerService(rest []arg) {
	if len(rest) == 0 {
		c.readOnly("docker service")
		return
	}
	switch rest[0].s {
	case "ls", "list", "ps", "inspect", "logs":
		c.readOnly("docker service " + rest[0].s)
	case "update":
		o := parseOpts(rest[1:], optSpec{short: "", long: []string{"image", "env-add", "env-rm", "replicas", "label-add", "label-rm", "secret-add", "secret-rm", "config-add", "config-rm", "publish-add", "publish-rm", "mount-add", "mount-rm", "network-add", "network-rm", "update-parallelism", "update-delay", "update-order", "update-failure-action", "rollback-parallelism", "limit-cpu", "limit-memory", "reserve-cpu", "reserve-memory", "args", "entrypoint", "user", "workdir", "constraint-add", "constraint-rm", "health-cmd", "stop-grace-period", "container-label-add", "container-label-rm"}})
		if o.has("--secret-add", "--secret-rm") {
			c.never("changes secrets")
			return
		}
		restartOnly := o.has("--force")
		for k := range o.set {
			if k != "--force" && k != "-d" && k != "--detach" && k != "-q" && k != "--quiet" {
				restartOnly = false
			}
		}
		if restartOnly {
			c.targets(Restart, "docker service update --force", o.pos, nil)
			return
		}
		c.targets(Redeploy, "docker service update", o.pos, nil)
	case "rollback":
		o := parseOpts(rest[1:], optSpec{})
		c.targets(Redeploy, "docker service rollback", o.pos, nil)
	default:
		c.mutating("docker service " + rest[0].s)
	}
}

func (c *call) compose(a []arg) {
	g := parseOpts(a, optSpec{short: "fp", long: []string{"file", "project-name", "project-directory", "env-file", "profile", "ansi", "progress", "parallel"}, stop: true})
	project := ""
	if v, ok := g.get("-p", "--project-name"); ok {
		project = v
	} else if v, ok := g.get("--project-directory"); ok {
		project = path.Base(path.Clean(v))
	} else if v, ok := g.get("-f", "--file"); ok && strings.Contains(v, "/") {
		project = path.Base(path.Dir(path.Clean(v)))
	}
	if g.has("--dry-run") {
		c.readOnly("compose --dry-run")
		return
	}
	if len(g.pos) == 0 {
		c.readOnly("compose without a command")
		return
	}
	sub, rest := g.pos[0], g.pos[1:]
	if !sub.lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "compose subcommand is not literal"})
		return
	}
	svcs := func(spec optSpec) []arg {
		o := parseOpts(rest, spec)
		if len(o.pos) == 0 && project != "" {
			return lits(project)
		}
		return o.pos
	}
	switch sub.s {
	case "ps", "logs", "config", "convert", "images", "ls", "top", "version", "port", "events", "stats", "wait":
		c.readOnly("compose " + sub.s)
	case "restart", "start":
		c.targets(Restart, "compose "+sub.s, svcs(optSpec{short: "t", long: []string{"timeout"}}), nil)
	case "up":
		c.targets(Redeploy, "compose up (re)creates containers", svcs(optSpec{short: "t", long: []string{"scale", "timeout", "exit-code-from", "attach", "no-attach", "pull", "wait-timeout"}}), nil)
	case "down":
		o := parseOpts(rest, optSpec{short: "t", long: []string{"rmi", "timeout"}})
		if o.has("-v", "--volumes") {
			c.never("compose down removes volumes")
			return
		}
		c.mutating("compose down stops and removes containers")
	case "rm":
		o := parseOpts(rest, optSpec{})
		if o.has("-v", "--volumes") {
			c.never("compose rm removes volumes")
			return
		}
		c.mutating("compose rm removes containers")
	case "exec":
		o := parseOpts(rest, optSpec{short: "euw", long: []string{"env", "user", "workdir", "index"}, stop: true})
		if len(o.pos) < 2 {
			c.mutating("compose exec without a command")
			return
		}
		c.w.argv(o.pos[1:], remoteScope(), c.in, c.depth+1, c.appended)
	case "run":
		c.mutating("compose run starts a new container")
	default:
		c.mutating("compose " + sub.s)
	}
}

// --- services ----------------------------------------------------------------

func stripUnit(s string) string { return strings.TrimSuffix(s, ".service") }

func (c *call) systemctl(a []arg) {
	o := parseOpts(a, optSpec{short: "HMtspnoP", long: []string{"host", "machine", "type", "signal", "property", "lines", "output", "state", "root", "kill-whom", "kill-value", "job-mode", "what", "reboot-argument", "timestamp", "image", "drop-in", "message", "when"}})
	if len(o.pos) == 0 {
		c.readOnly("lists units")
		return
	}
	verb := o.pos[0]
	units := o.pos[1:]
	if !verb.lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "systemctl verb is not literal"})
		return
	}
	switch verb.s {
	case "restart", "reload-or-restart", "try-restart", "try-reload-or-restart", "condrestart", "force-reload",
		"reload", "start", "reload-or-try-restart":
		c.targets(Restart, "systemctl "+verb.s, units, stripUnit)
	case "status", "is-active", "is-failed", "is-enabled", "is-system-running", "show", "cat", "help",
		"get-default", "list-units", "list-unit-files", "list-timers", "list-sockets", "list-dependencies",
		"list-jobs", "list-machines", "list-automounts", "list-paths", "show-environment":
		c.readOnly("systemctl " + verb.s)
	default:
		c.mutating("systemctl " + verb.s)
	}
}

func (c *call) service(a []arg) {
	o := parseOpts(a, optSpec{})
	if o.has("--status-all", "-e", "-l", "--list") {
		c.readOnly("lists services")
		return
	}
	if len(o.pos) < 2 {
		c.mutating("service without an action")
		return
	}
	unit, verb := o.pos[0], o.pos[1]
	switch verb.s {
	case "restart", "reload", "force-reload", "try-restart", "condrestart", "start", "try-reload-or-restart":
		c.targets(Restart, "service "+verb.s, []arg{unit}, stripUnit)
	case "status":
		c.readOnly("service status")
	default:
		c.mutating("service " + verb.s)
	}
}

func (c *call) procManager(a []arg) {
	o := parseOpts(a, optSpec{short: "cs", long: []string{"configuration", "serverurl", "username", "password"}})
	if len(o.pos) == 0 {
		c.mutating(c.args[0].s + " interactive")
		return
	}
	switch o.pos[0].s {
	case "status", "avail", "pid", "tail", "version", "list", "ls", "l", "jlist", "logs", "show", "describe", "info", "prettylist":
		c.readOnly(c.args[0].s + " query")
	case "restart", "start", "reload":
		t := o.pos[1:]
		if len(t) == 1 && t[0].s == "all" {
			t[0].lit = false
		}
		c.targets(Restart, c.args[0].s+" "+o.pos[0].s, t, nil)
	default:
		c.mutating(c.args[0].s + " " + o.pos[0].s)
	}
}

var kubectlSpec = optSpec{short: "nslfoLcpPi", long: []string{"namespace", "context", "kubeconfig", "server", "cluster", "user", "token", "selector", "filename", "output", "as", "as-group", "container", "field-selector", "request-timeout", "cache-dir", "certificate-authority", "client-certificate", "client-key", "tls-server-name", "template", "sort-by", "label-columns", "timeout", "since", "tail", "since-time", "type", "replicas", "image", "port", "field-manager", "grace-period", "from-literal", "from-file", "from-env-file", "patch", "subresource", "chunk-size", "kustomize", "pod-running-timeout", "profile", "password", "username"}}

func (c *call) kubectl(a []arg) {
	o := parseOpts(a, kubectlSpec)
	pos := o.pos
	if len(pos) == 0 {
		c.readOnly("kubectl help")
		return
	}
	if !pos[0].lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "kubectl verb is not literal"})
		return
	}
	dryRun := false
	if v, ok := o.get("--dry-run"); ok && v != "none" {
		dryRun = true
	}
	all := o.has("--all", "-A", "--all-namespaces", "-l", "--selector")
	verb := pos[0].s
	res := func(from int) []arg {
		// "deploy/api web/x" or "deployment api web"
		if from >= len(pos) {
			return nil
		}
		if strings.Contains(pos[from].s, "/") {
			return pos[from:]
		}
		return pos[from+1:]
	}
	stripRes := func(s string) string { return s[strings.LastIndex(s, "/")+1:] }
	switch verb {
	case "get", "describe", "logs", "top", "explain", "api-resources", "api-versions", "version",
		"cluster-info", "events", "diff", "wait", "kustomize", "completion", "options", "plugin":
		c.readOnly("kubectl " + verb)
	case "auth":
		c.readOnly("kubectl auth")
	case "config":
		if len(pos) > 1 && (pos[1].s == "view" || strings.HasPrefix(pos[1].s, "get-") || pos[1].s == "current-context") {
			c.readOnly("kubectl config " + pos[1].s)
			return
		}
		c.mutating("kubectl config " + firstWord(pos[1:]))
	case "rollout":
		if len(pos) < 2 {
			c.readOnly("kubectl rollout")
			return
		}
		switch pos[1].s {
		case "status", "history":
			c.readOnly("kubectl rollout " + pos[1].s)
		case "restart":
			t := res(2)
			if all || len(t) == 0 {
				c.w.add(Step{Kind: Restart, Argv: c.argv(), Reason: "kubectl rollout restart of every match", Opaque: true})
				return
			}
			c.targets(Restart, "kubectl rollout restart", t, stripRes)
		case "undo":
			c.targets(Redeploy, "kubectl rollout undo", res(2), stripRes)
		default:
			c.mutating("kubectl rollout " + pos[1].s)
		}
	case "apply", "replace", "create", "set", "patch":
		if dryRun {
			c.readOnly("kubectl --dry-run")
			return
		}
		if slices.ContainsFunc(pos[1:], func(x arg) bool { return x.s == "secret" || x.s == "secrets" || strings.HasPrefix(x.s, "secret/") }) {
			c.never("changes secrets")
			return
		}
		if verb == "set" && len(pos) > 2 {
			c.targets(Redeploy, "kubectl set "+pos[1].s, res(2)[:min(1, len(res(2)))], stripRes)
			return
		}
		if verb == "create" {
			c.mutating("kubectl create")
			return
		}
		c.add(Redeploy, "kubectl "+verb+" changes workloads")
	case "delete":
		if dryRun {
			c.readOnly("kubectl --dry-run")
			return
		}
		if o.has("-f", "--filename", "-k", "--kustomize") || all {
			c.never("kubectl delete of unknown or many resources may remove volumes")
			return
		}
		for _, x := range pos[1:] {
			r := strings.ToLower(strings.SplitN(x.s, "/", 2)[0])
			for _, t := range strings.Split(r, ",") {
				switch t {
				case "pvc", "pvcs", "persistentvolumeclaim", "persistentvolumeclaims", "pv", "pvs",
					"persistentvolume", "persistentvolumes", "ns", "namespace", "namespaces",
					"secret", "secrets", "statefulset", "statefulsets", "sts", "volumesnapshot", "volumesnapshots":
					c.never("kubectl delete " + t + " removes data, volumes or secrets")
					return
				case "networkpolicy", "networkpolicies", "netpol", "service", "services", "svc", "ingress", "ingresses", "ing":
					c.never("kubectl delete " + t + " changes network configuration")
					return
				}
			}
			if !x.lit {
				c.w.add(Step{Kind: Never, Argv: c.argv(), Reason: "kubectl delete of a resource that is not literal", Opaque: true})
				return
			}
		}
		c.mutating("kubectl delete")
	case "exec":
		// kubectl exec pod -- cmd ...
		for i, x := range a {
			if x.s == "--" {
				c.w.argv(a[i+1:], remoteScope(), c.in, c.depth+1, c.appended)
				return
			}
		}
		if len(pos) > 2 {
			c.w.argv(pos[2:], remoteScope(), c.in, c.depth+1, c.appended)
			return
		}
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "kubectl exec of an interactive shell"})
	case "edit":
		c.add(Redeploy, "kubectl edit")
	default:
		c.mutating("kubectl " + verb)
	}
}

func (c *call) helm(a []arg) {
	o := parseOpts(a, optSpec{short: "nfor", long: []string{"namespace", "kube-context", "kubeconfig", "values", "set", "set-string", "set-file", "set-json", "version", "output", "timeout", "description", "history-max", "repo", "username", "password", "ca-file", "cert-file", "key-file", "registry-config", "repository-config", "repository-cache", "kube-apiserver", "kube-as-user", "kube-token", "max", "revision", "post-renderer-args", "wait-for-jobs", "burst-limit", "qps", "name-template", "labels", "hide-secret"}})
	if _, ok := o.get("--post-renderer"); ok {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "helm --post-renderer runs a program"})
		return
	}
	if len(o.pos) == 0 {
		c.readOnly("helm help")
		return
	}
	verb := o.pos[0].s
	if o.has("--dry-run") {
		c.readOnly("helm --dry-run")
		return
	}
	switch verb {
	case "upgrade", "install", "rollback":
		t := o.pos[1:min(2, len(o.pos))]
		if verb == "install" && o.has("--generate-name", "-g") {
			t = nil
		}
		c.targets(Redeploy, "helm "+verb, t, nil)
	case "list", "ls", "status", "get", "history", "hist", "show", "inspect", "template", "search", "version",
		"env", "lint", "verify", "completion":
		c.readOnly("helm " + verb)
	case "repo", "dependency", "dep", "plugin":
		if len(o.pos) > 1 && (o.pos[1].s == "list" || o.pos[1].s == "ls") {
			c.readOnly("helm " + verb + " list")
			return
		}
		c.mutating("helm " + verb)
	default:
		c.mutating("helm " + verb)
	}
}

func (c *call) ansible(a []arg) {
	o := parseOpts(a, optSpec{short: "iMmaeflutTBPkKbc", long: []string{"inventory", "module-name", "args", "extra-vars", "forks", "limit", "user", "tree", "timeout", "background", "poll", "become-user", "become-method", "connection", "private-key", "module-path", "vault-password-file", "vault-id"}})
	if o.has("-C", "--check", "--list-hosts", "--syntax-check") {
		c.readOnly("ansible check mode")
		return
	}
	mod, _ := o.get("-m", "--module-name")
	args, _ := o.get("-a", "--args")
	switch mod {
	case "ping", "setup", "gather_facts", "stat", "debug", "service_facts", "package_facts":
		c.readOnly("ansible " + mod)
	case "", "command", "shell", "raw", "ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw":
		if args == "" {
			c.mutating("ansible without arguments")
			return
		}
		c.w.script(args, remoteScope(), input{}, c.depth+1)
	case "service", "systemd", "ansible.builtin.service", "ansible.builtin.systemd", "systemd_service":
		kv := map[string]string{}
		for _, f := range strings.Fields(args) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		switch kv["state"] {
		case "restarted", "reloaded", "started":
			c.targets(Restart, "ansible "+mod+" "+kv["state"], lits(kv["name"]), stripUnit)
		default:
			c.mutating("ansible " + mod)
		}
	default:
		c.mutating("ansible module " + mod)
	}
}

func (c *call) terraform(a []arg) {
	o := parseOpts(a, optSpec{short: "", long: []string{"var", "var-file", "target", "state", "state-out", "backup", "lock-timeout", "parallelism", "out"}})
	if len(o.pos) == 0 {
		c.readOnly("terraform help")
		return
	}
	verb := o.pos[0].s
	switch verb {
	case "apply":
		if o.has("-destroy", "--destroy") {
			c.never("terraform apply -destroy destroys infrastructure and data")
			return
		}
		c.add(Redeploy, "terraform apply")
	case "destroy":
		c.never("terraform destroy destroys infrastructure and data")
	case "plan", "show", "output", "validate", "version", "providers", "graph", "console":
		if verb == "plan" && o.has("-destroy", "--destroy") {
			c.readOnly("terraform plan")
			return
		}
		c.readOnly("terraform " + verb)
	case "state":
		if len(o.pos) > 1 && (o.pos[1].s == "list" || o.pos[1].s == "show" || o.pos[1].s == "pull") {
			c.readOnly("terraform state " + o.pos[1].s)
			return
		}
		c.mutating("terraform state")
	case "fmt":
		if o.has("-check", "--check") {
			c.readOnly("terraform fmt -check")
			return
		}
		c.writes(lits("."), writeContent, "terraform fmt rewrites files")
	default:
		c.mutating("terraform " + verb)
	}
}

func (c *call) git(a []arg) {
	o := parseOpts(a, optSpec{short: "Cc", long: []string{"git-dir", "work-tree", "namespace", "config-env", "exec-path", "super-prefix", "list-cmds"}, stop: true})
	dir := arg{s: ".", lit: true}
	if v, ok := o.get("--work-tree"); ok {
		dir = arg{s: v, lit: true}
	} else if v, ok := o.get("--git-dir"); ok {
		dir = arg{s: v, lit: true}
	} else if v, ok := o.get("-C"); ok {
		dir = arg{s: v, lit: true}
	}
	if v, ok := o.get("-c"); ok {
		k := strings.ToLower(strings.SplitN(v, "=", 2)[0])
		if strings.HasPrefix(k, "alias.") || strings.HasSuffix(k, "command") || strings.Contains(k, "hookspath") ||
			strings.HasSuffix(k, "pager") || strings.HasSuffix(k, "editor") || strings.Contains(k, "fsmonitor") ||
			strings.Contains(k, "helper") || strings.Contains(k, "external") || strings.Contains(k, "textconv") ||
			strings.HasPrefix(k, "protocol.") || strings.Contains(k, "sshcommand") || strings.HasPrefix(k, "include") {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "git -c " + k + " can run commands"})
			return
		}
	}
	if _, ok := o.get("--exec-path"); ok {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "git --exec-path runs other programs"})
		return
	}
	if len(o.pos) == 0 {
		c.readOnly("git help")
		return
	}
	sub := o.pos[0].s
	rest := parseOpts(o.pos[1:], optSpec{})
	switch sub {
	case "push", "send-pack", "send-email", "request-pull":
		c.never("git " + sub + " publishes changes")
		return
	case "status", "log", "diff", "show", "rev-parse", "ls-files", "ls-tree", "cat-file", "blame", "grep",
		"describe", "shortlog", "name-rev", "merge-base", "for-each-ref", "rev-list", "count-objects",
		"version", "help", "ls-remote", "whatchanged", "show-ref", "show-branch", "cherry", "annotate",
		"var", "check-ignore", "check-attr", "verify-commit", "verify-tag", "diff-tree", "diff-files", "diff-index":
		c.readOnly("git " + sub)
		return
	case "branch", "tag":
		if len(rest.pos) == 0 && !rest.has("-d", "-D", "--delete", "-m", "-M", "--move", "-c", "-C", "-f", "--force", "--set-upstream-to", "-u", "--unset-upstream", "--edit-description", "-a", "-s", "-F") ||
			rest.has("-l", "--list", "--show-current", "--contains", "--merged", "--no-merged", "-v", "-vv", "-r") && !rest.has("-d", "-D", "--delete") {
			c.readOnly("git " + sub + " listing")
			return
		}
		if sub == "branch" && rest.has("-a") && len(rest.pos) == 0 {
			c.readOnly("git branch listing")
			return
		}
	case "remote":
		if len(rest.pos) == 0 || rest.pos[0].s == "show" || rest.pos[0].s == "get-url" {
			c.readOnly("git remote listing")
			return
		}
	case "config":
		if rest.has("--get", "--get-all", "--get-regexp", "--list", "-l", "--show-origin") || (len(rest.pos) == 1 && !rest.has("--unset", "--unset-all", "--add", "--replace-all", "-e", "--edit")) {
			c.readOnly("git config read")
			return
		}
	case "stash", "worktree", "submodule", "reflog", "notes", "bisect":
		if len(rest.pos) > 0 && (rest.pos[0].s == "list" || rest.pos[0].s == "show" || rest.pos[0].s == "status") {
			c.readOnly("git " + sub + " " + rest.pos[0].s)
			return
		}
		if sub == "reflog" && len(rest.pos) == 0 {
			c.readOnly("git reflog")
			return
		}
	case "clone":
		if len(rest.pos) > 1 {
			c.writes(rest.pos[1:2], writeContent, "git clone")
			return
		}
		c.writes(lits("."), writeContent, "git clone into the working directory")
		return
	}
	c.writes([]arg{dir}, writeContent, "git "+sub+" changes a repository")
}

// copyRemote handles rsync and scp: the destination is written.
func (c *call) copyRemote(a []arg) {
	o := parseOpts(a, optSpec{short: "eiPFlocSJ", long: []string{"rsh", "rsync-path", "exclude", "include", "exclude-from", "include-from", "files-from", "filter", "backup-dir", "suffix", "chmod", "chown", "temp-dir", "compare-dest", "copy-dest", "link-dest", "log-file", "password-file", "bwlimit", "timeout", "contimeout", "port", "partial-dir", "max-size", "min-size", "out-format", "info", "debug", "usermap", "groupmap"}})
	if v, ok := o.get("-e", "--rsh", "--rsync-path"); ok && v != "ssh" && !strings.HasPrefix(v, "ssh ") {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: c.args[0].s + " runs a custom remote shell"})
		return
	}
	if len(o.pos) < 2 {
		c.readOnly(c.args[0].s + " listing")
		return
	}
	dst := o.pos[len(o.pos)-1]
	mode := writeContent
	for k := range o.set {
		if strings.HasPrefix(k, "--delete") || k == "--remove-source-files" {
			mode = destroy
		}
	}
	if dst.lit && isRemotePath(dst.s) {
		c.mutating(c.args[0].s + " copies to another host")
		return
	}
	c.writes([]arg{dst}, mode, c.args[0].s+" writes files")
}

func isRemotePath(s string) bool {
	i := strings.IndexByte(s, ':')
	return i > 0 && !strings.Contains(s[:i], "/")
}

func (c *call) permFix(a []arg) {
	name := c.args[0].s
	o := parseOpts(a, optSpec{short: "mxMXnb", long: []string{"reference", "from", "modify", "remove", "set", "set-file", "modify-file", "remove-file", "user", "role", "type", "range"}})
	ps := o.pos
	if _, ok := o.get("--reference"); !ok && name != "setfacl" && len(ps) > 0 {
		ps = ps[1:] // the mode or owner
	}
	mode := writeMeta
	if o.has("-R", "--recursive") {
		mode = destroy // recursive: an ancestor of a protected path counts
	}
	if len(ps) == 0 || c.appended {
		c.writes(ps, mode, name)
		return
	}
	worst := Step{Kind: Mutating, Argv: c.argv(), Reason: "file permission repair", SafeFix: name == "chmod" || name == "chown" || name == "chgrp"}
	for _, p := range ps {
		k, r, op := c.w.pathRisk(p, c.sc, mode)
		if op {
			worst = Step{Kind: Mutating, Argv: c.argv(), Reason: name + ": " + r, Opaque: true}
			continue
		}
		if k == Never && worst.Kind != Never {
			worst = Step{Kind: Never, Argv: c.argv(), Reason: name + ": " + r}
			continue
		}
		if abs, ok := c.sc.resolve(p.s); ok && !c.sc.remote && IsExecPath(abs) {
			worst.SafeFix = false
			worst.Reason = name + " on an executable or privilege path"
		}
	}
	c.w.add(worst)
}

var sedWrite = regexp.MustCompile(`(^|[0-9$/;{}!,\s])[wWe]($|[\s;}])`)

func (c *call) sed(a []arg) {
	o := parseOpts(a, optSpec{short: "efl", long: []string{"expression", "file", "line-length"}})
	inplace := o.has("-i", "--in-place") || slices.ContainsFunc(a, func(x arg) bool { return strings.HasPrefix(x.s, "-i") || strings.HasPrefix(x.s, "--in-place") })
	var scripts []string
	files := o.pos
	if v, ok := o.get("-e", "--expression"); ok {
		scripts = append(scripts, v)
		for i, x := range a {
			if (x.s == "-e" || x.s == "--expression") && i+1 < len(a) {
				scripts = append(scripts, a[i+1].s)
			}
		}
	} else if _, ok := o.get("-f", "--file"); ok {
		c.mutating("sed runs a script file")
		return
	} else if len(files) > 0 {
		scripts = append(scripts, files[0].s)
		files = files[1:]
	}
	if inplace {
		c.writes(files, writeContent, "sed -i edits files")
		return
	}
	for _, s := range scripts {
		if sedWrite.MatchString(s) {
			c.mutating("sed script may write files or run commands")
			return
		}
	}
	c.readOnly("sed to standard output")
}

var awkWrite = regexp.MustCompile(`system|\||print[f]?[^;}]*>|getline|fflush|close\(`)

func (c *call) awk(a []arg) {
	o := parseOpts(a, optSpec{short: "FvfiEl", long: []string{"field-separator", "assign", "file", "include", "exec", "load"}})
	if o.has("-f", "--file", "-i", "--include", "-E", "--exec", "-l", "--load") {
		c.mutating("awk runs a program file")
		return
	}
	if len(o.pos) == 0 || !o.pos[0].lit || awkWrite.MatchString(o.pos[0].s) {
		c.mutating("awk program may write files or run commands")
		return
	}
	c.readOnly("awk to standard output")
}

func (c *call) curl(a []arg) {
	o := parseOpts(a, optSpec{short: "XdFToDKHuAebcmwrxyzEYCQt", long: []string{"request", "data", "data-raw", "data-binary", "data-urlencode", "data-ascii", "json", "form", "form-string", "upload-file", "output", "dump-header", "config", "header", "user", "user-agent", "referer", "cookie", "cookie-jar", "max-time", "connect-timeout", "write-out", "range", "proxy", "time-cond", "retry", "retry-delay", "retry-max-time", "resolve", "cacert", "cert", "key", "url", "unix-socket", "abstract-unix-socket", "interface", "dns-servers", "limit-rate", "max-filesize", "trace", "trace-ascii", "stderr", "output-dir", "connect-to", "proxy-user", "oauth2-bearer", "aws-sigv4", "ciphers", "cert-type", "key-type", "pass", "expect100-timeout", "happy-eyeballs-timeout-ms", "keepalive-time", "local-port", "max-redirs", "netrc-file", "noproxy", "preproxy", "proto", "proto-redir", "quote", "socks5", "socks5-hostname", "telnet-option", "tls-max", "variable", "expand-url", "url-query", "mail-from", "mail-rcpt", "hostpubmd5", "hostpubsha256", "pinnedpubkey", "request-target", "service-name", "sasl-authzid", "login-options", "delegation", "crlfile", "capath", "engine", "ftp-account", "ftp-method", "ftp-port", "ftp-ssl-ccc-mode", "krb", "libcurl", "proxy-header", "ssl-sessions", "etag-save", "etag-compare", "hsts", "alt-svc"}})
	if o.has("-K", "--config") {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "curl reads options from a file"})
		return
	}
	method, hasMethod := o.get("-X", "--request")
	method = strings.ToUpper(method)
	sends := o.has("-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--data-ascii", "--json", "-F", "--form", "--form-string", "-T", "--upload-file", "-Q", "--quote", "--mail-rcpt")
	get := o.has("-G", "--get")
	mut := (hasMethod && method != "GET" && method != "HEAD" && method != "OPTIONS") || (sends && !get)
	if mut {
		if o.has("--unix-socket", "--abstract-unix-socket") {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "curl changes state through a unix socket (the container runtime's API?)"})
			return
		}
		c.mutating("curl sends data or a mutating method")
		return
	}
	var outs []arg
	for _, k := range []string{"-o", "--output", "-D", "--dump-header", "-c", "--cookie-jar", "--trace", "--trace-ascii", "--stderr", "--etag-save", "--hsts", "--alt-svc", "--libcurl"} {
		if v, ok := o.get(k); ok && v != "-" && !harmlessTargets[v] {
			outs = append(outs, arg{s: v, lit: true})
		}
	}
	if o.has("-O", "--remote-name", "--remote-name-all", "-J") {
		d, ok := o.get("--output-dir")
		if !ok {
			d = "."
		}
		outs = append(outs, arg{s: d + "/downloaded-file", lit: true})
	}
	if len(outs) > 0 {
		c.writes(outs, writeContent, "curl writes a file")
		return
	}
	c.readOnly("HTTP read")
}

func (c *call) wget(a []arg) {
	o := parseOpts(a, optSpec{short: "OoaPeTtUiBw", long: []string{"output-document", "output-file", "append-output", "directory-prefix", "post-data", "post-file", "method", "body-data", "body-file", "header", "user", "password", "timeout", "tries", "user-agent", "input-file", "execute", "wait", "limit-rate"}})
	if o.has("--post-data", "--post-file", "--body-data", "--body-file", "-e", "--execute") {
		c.mutating("wget sends data")
		return
	}
	if m, ok := o.get("--method"); ok && strings.ToUpper(m) != "GET" && strings.ToUpper(m) != "HEAD" {
		c.mutating("wget sends a mutating method")
		return
	}
	var outs []arg
	if v, ok := o.get("-o", "--output-file", "-a", "--append-output"); ok {
		outs = append(outs, arg{s: v, lit: true})
	}
	if o.has("--spider") {
		if len(outs) == 0 {
			c.readOnly("wget --spider")
			return
		}
	} else if v, ok := o.get("-O", "--output-document"); ok {
		if v != "-" && !harmlessTargets[v] {
			outs = append(outs, arg{s: v, lit: true})
		}
	} else {
		d, ok := o.get("-P", "--directory-prefix")
		if !ok {
			d = "."
		}
		outs = append(outs, arg{s: d + "/downloaded-file", lit: true})
	}
	if len(outs) > 0 {
		c.writes(outs, writeContent, "wget writes a file")
		return
	}
	c.readOnly("HTTP read")
}

// --- network -------------------------------------------------------------------

func (c *call) iptables(a []arg) {
	o := parseOpts(a, optSpec{short: "tWw", long: []string{"table", "wait", "wait-interval"}})
	modifying := []string{"-A", "-I", "-D", "-R", "-F", "-X", "-N", "-P", "-Z", "-E", "--append", "--insert",
		"--delete", "--replace", "--flush", "--delete-chain", "--new-chain", "--policy", "--zero", "--rename-chain"}
	if o.has(modifying...) {
		c.never("changes network configuration (firewall)")
		return
	}
	if o.has("-L", "-S", "--list", "--list-rules", "-C", "--check", "-V", "--version", "-h") {
		c.readOnly("lists firewall rules")
		return
	}
	c.never("changes network configuration (firewall)")
}

func (c *call) nft(a []arg) {
	o := parseOpts(a, optSpec{short: "If", long: []string{"includepath", "file"}})
	if o.has("-f", "--file", "-i", "--interactive") {
		if o.has("-c", "--check") {
			c.readOnly("nft check")
			return
		}
		c.never("changes network configuration (firewall)")
		return
	}
	if len(o.pos) > 0 && (o.pos[0].s == "list" || o.pos[0].s == "monitor" || o.pos[0].s == "describe") || o.has("-c", "--check", "-v", "--version") {
		c.readOnly("lists firewall rules")
		return
	}
	c.never("changes network configuration (firewall)")
}

func (c *call) ip(a []arg) {
	o := parseOpts(a, optSpec{short: "nbrl", long: []string{"netns", "batch", "rc", "loops", "family"}})
	if o.has("-b", "--batch", "-force") {
		c.never("ip -batch may change network configuration")
		return
	}
	if len(o.pos) == 0 {
		c.readOnly("ip help")
		return
	}
	obj := o.pos[0].s
	if (obj == "netns" || obj == "nets" || obj == "netn") && len(o.pos) > 2 && o.pos[1].s == "exec" {
		c.inner(o.pos[3:])
		return
	}
	if len(o.pos) == 1 {
		c.readOnly("ip " + obj + " show")
		return
	}
	verb := o.pos[1].s
	switch verb {
	case "show", "sh", "s", "list", "lst", "ls", "l", "get", "g", "monitor", "help", "identify", "pids", "save", "showdump":
		c.readOnly("ip " + obj + " " + verb)
		return
	}
	if strings.HasPrefix("show", verb) || strings.HasPrefix("list", verb) {
		c.readOnly("ip " + obj + " " + verb)
		return
	}
	// "ip addr eth0" style filters without a verb are read-only too, but
	// anything unknown fails closed.
	c.never("changes network configuration (ip " + obj + " " + verb + ")")
}

func (c *call) nmcli(a []arg) {
	o := parseOpts(a, optSpec{short: "fgpw", long: []string{"fields", "get-values", "escape", "colors", "wait", "mode"}})
	if len(o.pos) == 0 {
		c.readOnly("nmcli status")
		return
	}
	for _, x := range o.pos {
		switch x.s {
		case "up", "down", "add", "modify", "mod", "m", "delete", "del", "edit", "reload", "load", "import",
			"connect", "disconnect", "set", "on", "off", "rescan", "hotspot", "reapply", "clone", "migrate", "autoconnect":
			c.never("changes network configuration")
			return
		}
		if !x.lit {
			c.never("changes network configuration")
			return
		}
	}
	if len(o.pos) == 2 && (o.pos[0].s == "general" || o.pos[0].s == "g") && o.pos[1].s == "hostname" {
		c.readOnly("nmcli hostname")
		return
	}
	if len(o.pos) > 2 && (o.pos[0].s == "general" || o.pos[0].s == "g") {
		c.never("changes network configuration")
		return
	}
	c.readOnly("nmcli status")
}

func (c *call) netQuery(name string, a []arg) {
	o := parseOpts(a, optSpec{})
	switch name {
	case "tc", "bridge":
		if len(o.pos) == 1 || (len(o.pos) > 1 && (o.pos[1].s == "show" || o.pos[1].s == "list" || o.pos[1].s == "ls")) {
			c.readOnly(name + " show")
			return
		}
	case "brctl":
		if len(o.pos) > 0 && (o.pos[0].s == "show" || strings.HasPrefix(o.pos[0].s, "show")) {
			c.readOnly("brctl show")
			return
		}
	case "wg":
		if len(o.pos) == 0 || o.pos[0].s == "show" || o.pos[0].s == "showconf" {
			c.readOnly("wg show")
			return
		}
	case "resolvectl", "systemd-resolve":
		if len(o.pos) == 0 || o.pos[0].s == "status" || o.pos[0].s == "query" || o.pos[0].s == "statistics" || o.pos[0].s == "show-cache" ||
			((o.pos[0].s == "dns" || o.pos[0].s == "domain") && len(o.pos) <= 2) || o.has("--status", "--statistics") {
			c.readOnly(name + " query")
			return
		}
	case "conntrack":
		if o.has("-L", "--dump", "-S", "--stats", "-C", "--count", "-G", "--get", "-E", "--event") && !o.has("-D", "--delete", "-F", "--flush", "-U", "--update", "-I", "--create") {
			c.readOnly("conntrack listing")
			return
		}
	case "ethtool":
		setting := false
		for k := range o.set {
			switch k {
			case "-i", "-S", "-k", "-g", "-a", "-c", "-l", "-m", "-T", "-P", "-d", "--driver", "--statistics", "--show-features",
				"--show-ring", "--show-pause", "--show-coalesce", "--show-channels", "--module-info", "--show-time-stamping", "--show-permaddr":
			default:
				setting = true
			}
		}
		if !setting {
			c.readOnly("ethtool query")
			return
		}
	}
	c.never("changes network configuration")
}

// --- data stores -----------------------------------------------------------------

var redisRead = map[string]bool{
	"PING": true, "INFO": true, "GET": true, "MGET": true, "EXISTS": true, "TTL": true, "PTTL": true,
	"TYPE": true, "SCAN": true, "DBSIZE": true, "STRLEN": true, "HGET": true, "HGETALL": true, "HLEN": true,
	"HKEYS": true, "LLEN": true, "LRANGE": true, "SCARD": true, "SMEMBERS": true, "ZCARD": true, "ZRANGE": true,
	"XLEN": true, "XINFO": true, "MEMORY": false, "SLOWLOG": false, "ROLE": true, "TIME": true, "LASTSAVE": true,
	"KEYS": true, "ECHO": true, "LATENCY": false, "CLUSTER": false, "CLIENT": false, "CONFIG": false,
}

func (c *call) redis(a []arg) {
	o := parseOpts(a, optSpec{short: "hpsanuir", long: []string{"user", "pass", "tls-cert", "cacert", "key", "sni", "eval", "rdb", "pattern", "count", "bigkeys-count"}, stop: true})
	if o.has("--rdb", "--eval", "--pipe", "--functions-rdb") {
		c.mutating("redis-cli " + "dump, eval or pipe")
		return
	}
	if o.has("--stat", "--bigkeys", "--memkeys", "--hotkeys", "--latency", "--latency-history", "--scan", "--version") && len(o.pos) == 0 {
		c.readOnly("redis-cli statistics")
		return
	}
	if len(o.pos) == 0 {
		c.mutating("redis-cli reads commands from standard input")
		return
	}
	cmd := strings.ToUpper(o.pos[0].s)
	sub := ""
	if len(o.pos) > 1 {
		sub = strings.ToUpper(o.pos[1].s)
	}
	switch {
	case redisRead[cmd]:
		c.readOnly("redis " + cmd)
	case (cmd == "CONFIG" && sub == "GET") || (cmd == "CLIENT" && (sub == "LIST" || sub == "INFO")) ||
		(cmd == "SLOWLOG" && (sub == "GET" || sub == "LEN")) || (cmd == "MEMORY" && (sub == "USAGE" || sub == "STATS" || sub == "DOCTOR")) ||
		(cmd == "CLUSTER" && (sub == "INFO" || sub == "NODES")) || (cmd == "LATENCY" && sub != "RESET"):
		c.readOnly("redis " + cmd + " " + sub)
	case cmd == "ACL" && sub != "LIST" && sub != "WHOAMI" && sub != "CAT" && sub != "USERS",
		cmd == "CONFIG" && sub == "SET" && len(o.pos) > 2 && strings.Contains(strings.ToLower(o.pos[2].s), "pass"),
		cmd == "FLUSHALL", cmd == "FLUSHDB":
		c.never("redis " + cmd + " destroys data or changes credentials")
	default:
		c.mutating("redis " + cmd)
	}
}

var sqlRead = regexp.MustCompile(`(?is)^\s*(select|show|explain|describe|desc|\\d\S*|\\l|\\dt|\\conninfo|with\s)\b?`)
var sqlBad = regexp.MustCompile(`(?i)\b(into|insert|update|delete|drop|alter|create|truncate|grant|revoke|password|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|setval|nextval|lo_import|lo_export|copy|dblink|pg_read_file|set_config|call|do|vacuum|analyze|reindex|cluster|refresh|lock|kill|shutdown|flush|reset|load_file|outfile|dumpfile)\b`)

func (c *call) sql(name string, a []arg) {
	var q []string
	for i, x := range a {
		switch {
		case x.s == "-c" || x.s == "--command" || x.s == "-e" || x.s == "--execute" || x.s == "--eval" || x.s == "-q" || x.s == "--query":
			if i+1 < len(a) {
				q = append(q, a[i+1].s)
				if !a[i+1].lit {
					c.mutating(name + " query is not literal")
					return
				}
			}
		case strings.HasPrefix(x.s, "--command=") || strings.HasPrefix(x.s, "--execute=") || strings.HasPrefix(x.s, "--query="):
			q = append(q, strings.SplitN(x.s, "=", 2)[1])
		case x.s == "-f" || x.s == "--file" || strings.HasPrefix(x.s, "--file="):
			c.mutating(name + " runs an SQL file")
			return
		}
	}
	if name == "sqlite3" {
		o := parseOpts(a, optSpec{short: "", long: []string{"cmd", "separator", "nullvalue"}})
		if len(o.pos) > 1 {
			for _, x := range o.pos[1:] {
				q = append(q, x.s)
			}
		}
	}
	if len(q) == 0 {
		c.mutating(name + " reads queries from standard input")
		return
	}
	for _, s := range q {
		body := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
		if strings.Contains(body, ";") || !sqlRead.MatchString(body) || sqlBad.MatchString(body) {
			if regexp.MustCompile(`(?i)\bpassword\b`).MatchString(body) {
				c.never(name + " query changes a password")
				return
			}
			c.mutating(name + " query is not a single read-only statement")
			return
		}
	}
	c.readOnly("read-only query")
}

func sleepDuration(a arg) (time.Duration, bool) {
	if !a.lit || a.s == "" {
		return 0, false
	}
	s := a.s
	unit := time.Second
	switch s[len(s)-1] {
	case 's':
		s = s[:len(s)-1]
	case 'm':
		s, unit = s[:len(s)-1], time.Minute
	case 'h':
		s, unit = s[:len(s)-1], time.Hour
	case 'd':
		s, unit = s[:len(s)-1], 24*time.Hour
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0, false
	}
	return time.Duration(f * float64(unit)), true
}
