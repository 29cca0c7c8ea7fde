package repos

import (
	"fmt"
	"strconv"
	"strings"
)

// Prompt returns the compact inventory Tier 1 is given: every repo's name and
// manifest, and its extension checks with their content; playbooks and skills
// by name only, as Tier 1 does not remediate. File contents past
// MaxPromptBytes are left out and listed by path (relative to the repos dir,
// the session's working directory) for the agent to read.
func (inv *Inventory) Prompt() string {
	if inv == nil || len(inv.Repos) == 0 {
		return "No repos are mounted.\n"
	}
	w := writer{budget: MaxPromptBytes}
	for _, r := range inv.Repos {
		w.openRepo(r)
		for _, f := range r.Checks {
			w.file("check", f)
		}
		w.names("playbooks", r.Playbooks)
		w.names("skills", r.Skills)
		w.b.WriteString("</repo>\n")
	}
	return w.b.String()
}

// RepoRules returns everything a repo says for Tier 2 and Tier 3: its
// manifest and the full text of its checks, playbooks and skills. It returns
// "" for a repo that is not in the inventory. File contents past
// MaxRulesBytes are listed by path instead.
func (inv *Inventory) RepoRules(repo string) string {
	r, ok := inv.Repo(repo)
	if !ok {
		return ""
	}
	w := writer{budget: MaxRulesBytes}
	w.openRepo(*r)
	for _, f := range r.Playbooks {
		w.file("playbook", f)
	}
	for _, f := range r.Skills {
		w.file("skill", f)
	}
	for _, f := range r.Checks {
		w.file("check", f)
	}
	w.b.WriteString("</repo>\n")
	return w.b.String()
}

// writer renders repos as tagged text, inlining contents while the budget lasts.
type writer struct {
	b      strings.Builder
	budget int
}

func (w *writer) openRepo(r Repo) {
	fmt.Fprintf(&w.b, "<repo name=%s>\n", strconv.Quote(r.Name))
	if r.Manifest == "" {
		w.b.WriteString("(no " + ManifestFile + ")\n")
		return
	}
	w.content("manifest", "", r.Name+"/"+ManifestFile, r.Manifest, r.ManifestTruncated)
}

func (w *writer) file(tag string, f File) {
	w.content(tag, f.Name, f.Path, f.Content, f.Truncated)
}

func (w *writer) content(tag, name, path, text string, truncated bool) {
	attrs := ""
	if name != "" {
		attrs = " name=" + strconv.Quote(name)
	}
	if len(text) > w.budget {
		fmt.Fprintf(&w.b, "<%s%s path=%s/> (not inlined, size limit: read the file)\n", tag, attrs, strconv.Quote(path))
		return
	}
	w.budget -= len(text)
	fmt.Fprintf(&w.b, "<%s%s>\n%s", tag, attrs, text)
	if !strings.HasSuffix(text, "\n") {
		w.b.WriteByte('\n')
	}
	if truncated {
		fmt.Fprintf(&w.b, "[truncated; full text in %s]\n", path)
	}
	fmt.Fprintf(&w.b, "</%s>\n", tag)
}

func (w *writer) names(label string, files []File) {
	if len(files) == 0 {
		return
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	fmt.Fprintf(&w.b, "%s: %s\n", label, strings.Join(names, ", "))
}
