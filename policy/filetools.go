// File tools whose writes depend on their arguments: permission changes,
// sed and awk.

package policy

import (
	"regexp"
	"slices"
	"strings"
)

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
	worst := Step{Kind: Mutating, Argv: c.argv(), Reason: "file permission repair"}
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
