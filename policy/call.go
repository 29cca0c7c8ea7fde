// One command being classified, and the helpers its rules add steps with:
// wrapped commands, shell strings, restart targets and written paths.

package policy

import "strings"

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
