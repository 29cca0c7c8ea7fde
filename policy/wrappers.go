// Commands that run other commands: sudo and its kin, env, shells, ssh,
// xargs and find -exec.

package policy

import (
	"slices"
	"strings"
)

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
