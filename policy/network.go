// Network configuration tools: firewalls, ip, NetworkManager and the
// smaller network utilities.

package policy

import "strings"

func (c *call) iptables(a []arg) {
	o := parseOpts(a, optSpec{short: "tWw", long: []string{"table", "wait", "wait-interval"}})
	modifying := []string{"-A", "-I", "-D", "-R", "-F", "-X", "-N", "-P", "-Z", "-E", "--append", "--insert",
		"--delete", "--replace", "--flush", "--delete-chain", "--new-chain", "--policy", "--zero", "--rename-chain"}
	if o.has(modifying...) {
		c.never("changes network configuration (firewall)")
		return
	}
	if o.has("-L", "-S", "--list", "--list-rules", "-C", "--check", "-V", "--version", "-h") {
		c.readOnly("lists firewall rules")
		return
	}
	c.never("changes network configuration (firewall)")
}

func (c *call) nft(a []arg) {
	o := parseOpts(a, optSpec{short: "If", long: []string{"includepath", "file"}})
	if o.has("-f", "--file", "-i", "--interactive") {
		if o.has("-c", "--check") {
			c.readOnly("nft check")
			return
		}
		c.never("changes network configuration (firewall)")
		return
	}
	if len(o.pos) > 0 && (o.pos[0].s == "list" || o.pos[0].s == "monitor" || o.pos[0].s == "describe") || o.has("-c", "--check", "-v", "--version") {
		c.readOnly("lists firewall rules")
		return
	}
	c.never("changes network configuration (firewall)")
}

func (c *call) ip(a []arg) {
	o := parseOpts(a, optSpec{short: "nbrl", long: []string{"netns", "batch", "rc", "loops", "family"}})
	if o.has("-b", "--batch", "-force") {
		c.never("ip -batch may change network configuration")
		return
	}
	if len(o.pos) == 0 {
		c.readOnly("ip help")
		return
	}
	obj := o.pos[0].s
	if (obj == "netns" || obj == "nets" || obj == "netn") && len(o.pos) > 2 && o.pos[1].s == "exec" {
		c.inner(o.pos[3:])
		return
	}
	if len(o.pos) == 1 {
		c.readOnly("ip " + obj + " show")
		return
	}
	verb := o.pos[1].s
	switch verb {
	case "show", "sh", "s", "list", "lst", "ls", "l", "get", "g", "monitor", "help", "identify", "pids", "save", "showdump":
		c.readOnly("ip " + obj + " " + verb)
		return
	}
	// ip takes any prefix of a verb: sh, li.
	if strings.HasPrefix("show", verb) || strings.HasPrefix("list", verb) { //nolint:gocritic // verb is the prefix
		c.readOnly("ip " + obj + " " + verb)
		return
	}
	// "ip addr eth0" style filters without a verb are read-only too, but
	// anything unknown fails closed.
	c.never("changes network configuration (ip " + obj + " " + verb + ")")
}

func (c *call) nmcli(a []arg) {
	o := parseOpts(a, optSpec{short: "fgpw", long: []string{"fields", "get-values", "escape", "colors", "wait", "mode"}})
	if len(o.pos) == 0 {
		c.readOnly("nmcli status")
		return
	}
	for _, x := range o.pos {
		switch x.s {
		case "up", "down", "add", "modify", "mod", "m", "delete", "del", "edit", "reload", "load", "import",
			"connect", "disconnect", "set", "on", "off", "rescan", "hotspot", "reapply", "clone", "migrate", "autoconnect":
			c.never("changes network configuration")
			return
		}
		if !x.lit {
			c.never("changes network configuration")
			return
		}
	}
	if len(o.pos) == 2 && (o.pos[0].s == "general" || o.pos[0].s == "g") && o.pos[1].s == "hostname" {
		c.readOnly("nmcli hostname")
		return
	}
	if len(o.pos) > 2 && (o.pos[0].s == "general" || o.pos[0].s == "g") {
		c.never("changes network configuration")
		return
	}
	c.readOnly("nmcli status")
}
