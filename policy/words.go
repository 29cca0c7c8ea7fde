// Word expansion: the value of a shell word after parameter expansion and
// quote removal (backslashes, double quotes, here-documents, ANSI-C $'...').

package policy

import (
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

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

// src prints a node as shell source.
func (w *walker) src(n syntax.Node) string {
	var b strings.Builder
	if err := syntax.NewPrinter(syntax.Minify(true)).Print(&b, n); err != nil {
		return "?"
	}
	return truncate(b.String(), 200)
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
