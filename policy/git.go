// git: reads, publishing, and changes to a repository.

package policy

import "strings"

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
