// Option parsing for the commands the classifier knows.

package policy

import (
	"slices"
	"strings"
)

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
