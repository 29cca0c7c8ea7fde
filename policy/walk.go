// The syntax-tree walker: statements, redirections, here-documents, compound
// commands, command and process substitutions, declarations and simple
// commands, down to the dispatch of one command's words.

package policy

import (
	"path"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

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
			if s.Kind == ReadOnly {
				s.Kind = Mutating
				s.Reason = "runs " + name.s + ", which is not a system program"
			}
		}
	}
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
