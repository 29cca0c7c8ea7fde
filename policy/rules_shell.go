// Rules of shell builtins and of the commands that run another command
// (wrappers), besides those of wrappers.go.

package policy

func suRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "cgGsw", long: []string{"command", "group", "supp-group", "shell", "whitelist-environment"}})
	if v, ok := o.get("-c", "--command"); ok {
		c.shell(arg{s: v, lit: true}, c.sc.child(nil), c.in)
		return
	}
	c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "su without -c runs a shell on standard input"})
}

func nohupRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{stop: true})
	c.inner(o.pos)
}

func execRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "a", stop: true})
	if len(o.pos) == 0 {
		c.readOnly("exec without a command (redirections only)")
		return
	}
	c.inner(o.pos)
}

func commandRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{stop: true})
	if o.has("-v", "-V") {
		c.readOnly("looks a command up")
		return
	}
	c.inner(o.pos)
}

func niceRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "n", long: []string{"adjustment"}, stop: true})
	c.inner(o.pos)
}

func timeoutRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "sk", long: []string{"signal", "kill-after"}, stop: true})
	if len(o.pos) == 0 {
		c.readOnly("timeout without a command")
		return
	}
	c.inner(o.pos[1:])
}

func watchRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "nq", long: []string{"interval", "equexit"}, stop: true})
	if o.has("-x", "--exec") {
		c.inner(o.pos)
		return
	}
	c.shellWords(o.pos, c.sc.child(nil), c.in)
}

func sourceRule(c *call, _ string, a []arg) {
	// The script may set anything: what was known is no longer.
	for k := range c.sc.vars {
		c.sc.vars[k] = val{}
	}
	c.sc.cwdOK = false
	c.mutating("runs a script file")
}

func printfRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "v"})
	if v, ok := o.get("-v"); ok {
		c.sc.vars[v] = val{}
	}
	c.readOnly("printf")
}

func hashRule(c *call, name string, a []arg) {
	o := parseOpts(a, optSpec{short: "pt"})
	if o.has("-p") {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "hash -p changes which program a name runs"})
		return
	}
	c.readOnly("hash")
}

func busyboxRule(c *call, _ string, a []arg) {
	if len(a) == 0 {
		c.readOnly("lists applets")
		return
	}
	c.inner(a)
}

func cdRule(c *call, _ string, a []arg) {
	if o := parseOpts(a, optSpec{}); len(o.pos) == 0 {
		c.sc.cwdOK = false
	} else {
		c.sc.cd(o.pos[0])
	}
	c.readOnly("changes directory")
}

func readRule(c *call, _ string, a []arg) {
	for _, x := range a {
		if isName(x.s) {
			c.sc.vars[x.s] = val{}
		}
	}
	c.readOnly("reads input into variables")
}
