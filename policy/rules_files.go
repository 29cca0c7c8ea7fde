// Rules of the commands that write, move, remove or unpack files.

package policy

import (
	"strings"
)

func rmRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "nsu", long: []string{"interactive", "iterations", "size", "remove"}})
	if o.has("--no-preserve-root") {
		c.never("rm --no-preserve-root")
		return
	}
	c.writes(o.pos, destroy, "removes files")
}

func mvRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "tS", long: []string{"target-directory", "suffix", "backup"}})
	ps := o.pos
	if t, ok := o.get("-t", "--target-directory"); ok {
		ps = append(ps, arg{s: t, lit: true})
	}
	c.writes(ps, destroy, "moves files")
}

func cpRule(c *call, name string, a []arg) {
	o := parseOpts(a, optSpec{short: "tSmogT", long: []string{"target-directory", "suffix", "mode", "owner", "group", "backup", "reflink", "sparse", "preserve", "no-preserve"}})
	var dst []arg
	if t, ok := o.get("-t", "--target-directory"); ok {
		dst = []arg{{s: t, lit: true}}
	} else if len(o.pos) > 0 {
		dst = o.pos[len(o.pos)-1:]
	}
	c.writes(dst, writeContent, name+" writes files")
}

func touchRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "dmrtsZlo", long: []string{"date", "mode", "reference", "time", "size", "context", "length", "offset"}})
	c.writes(o.pos, writeContent, "touch creates or changes files")
}

func teeRule(c *call, _ string, a []arg) {
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
}

func ddRule(c *call, _ string, a []arg) {
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
}

func yqRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{})
	if o.has("-i", "--inplace") && len(o.pos) > 1 {
		c.writes(o.pos[1:], writeContent, "yq -i edits files")
		return
	}
	c.readOnly("yq")
}

func sortRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "oktSTz", long: []string{"output", "key", "field-separator", "buffer-size", "temporary-directory", "parallel", "files0-from", "random-source", "compress-program", "sort", "batch-size"}})
	if v, ok := o.get("-o", "--output"); ok {
		c.writes([]arg{{s: v, lit: true}}, writeContent, "sort -o writes a file")
		return
	}
	c.readOnly("sort")
}

func uniqRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "fsw", long: []string{"skip-fields", "skip-chars", "check-chars", "all-repeated", "group"}})
	if len(o.pos) > 1 {
		c.writes(o.pos[1:2], writeContent, "uniq writes its output file")
		return
	}
	c.readOnly("uniq")
}
