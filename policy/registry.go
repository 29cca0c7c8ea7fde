// The command registry: each command name the classifier knows, with the
// rule that classifies a call of it. A name not here is Mutating ("unknown
// command"): the gate refuses it early, which is all it is for since sessions
// are sandboxed and changes are typed actions. Every entry is reached by a
// case of the tests (TestRegistryReached); an entry no test reaches goes.

package policy

import (
	"slices"
	"strings"
)

// rule classifies one call of a command; name is its base name, a the
// arguments after it.
type rule func(c *call, name string, a []arg)

// entry is one command name and its rule.
type entry struct {
	name string
	rule rule
}

// each gives every name the same rule.
func each(r rule, names ...string) []entry {
	out := make([]entry, len(names))
	for i, n := range names {
		out[i] = entry{name: n, rule: r}
	}
	return out
}

// registry is every command the classifier knows.
var registry = slices.Concat(
	each(func(c *call, _ string, _ []arg) { c.sudo() }, "sudo"),
	each(suRule, "su"),
	each(func(c *call, _ string, _ []arg) { c.env() }, "env"),
	each(nohupRule, "nohup"),
	each(execRule, "exec"),
	each(commandRule, "command"),
	each(niceRule, "nice"),
	each(timeoutRule, "timeout"),
	each(watchRule, "watch"),
	each(func(c *call, _ string, _ []arg) { c.xargs() }, "xargs"),
	each(func(c *call, _ string, a []arg) { c.shellWords(a, c.sc, c.in) }, "eval"),
	each(sourceRule, "."),
	each(printfRule, "printf"),
	each(hashRule, "hash"),
	each(func(c *call, _ string, a []arg) { c.sh(a) }, "sh", "bash"),
	each(busyboxRule, "busybox"),
	each(func(c *call, _ string, _ []arg) { c.ssh() }, "ssh"),
	each(cdRule, "cd"),
	each(readRule, "read"),
	each(func(c *call, _ string, _ []arg) { c.find() }, "find"),
	each(func(c *call, _ string, a []arg) { c.docker(a) }, "docker", "podman"),
	each(func(c *call, _ string, a []arg) { c.compose(a) }, "docker-compose"),
	each(func(c *call, _ string, a []arg) { c.systemctl(a) }, "systemctl"),
	each(func(c *call, _ string, a []arg) { c.service(a) }, "service"),
	each(func(c *call, _ string, a []arg) { c.kubectl(a) }, "kubectl"),
	each(func(c *call, _ string, a []arg) { c.helm(a) }, "helm"),
	each(ansiblePlaybookRule, "ansible-playbook"),
	each(func(c *call, _ string, a []arg) { c.ansible(a) }, "ansible"),
	each(func(c *call, _ string, a []arg) { c.terraform(a) }, "terraform"),
	each(func(c *call, _ string, a []arg) { c.git(a) }, "git"),
	each(rmRule, "rm"),
	each(mvRule, "mv"),
	each(cpRule, "cp"),
	each(touchRule, "touch"),
	each(teeRule, "tee"),
	each(ddRule, "dd"),
	each(func(c *call, _ string, a []arg) { c.permFix(a) }, "chmod"),
	each(func(c *call, _ string, a []arg) { c.sed(a) }, "sed"),
	each(func(c *call, _ string, a []arg) { c.awk(a) }, "awk"),
	each(yqRule, "yq"),
	each(sortRule, "sort"),
	each(uniqRule, "uniq"),
	each(func(c *call, _ string, a []arg) { c.curl(a) }, "curl"),
	each(ncRule, "nc"),
	each(opensslRule, "openssl"),
	each(func(c *call, _ string, a []arg) { c.iptables(a) }, "iptables"),
	each(func(c *call, _ string, a []arg) { c.nft(a) }, "nft"),
	each(func(c *call, _ string, a []arg) { c.ip(a) }, "ip"),
	each(routeRule, "route"),
	each(func(c *call, _ string, a []arg) { c.nmcli(a) }, "nmcli"),
	each(ufwRule, "ufw"),
	each(func(c *call, _ string, _ []arg) { c.never("changes passwords or credentials") }, "passwd", "chpasswd"),
	each(mysqladminRule, "mysqladmin"),
	each(func(c *call, _ string, a []arg) { c.redis(a) }, "redis-cli"),
	each(func(c *call, name string, a []arg) { c.sql(name, a) }, "psql", "mysql", "sqlite3"),
	each(sleepRule, "sleep"),
	each(dateRule, "date"),
	each(hostnameRule, "hostname"),
	each(dmesgRule, "dmesg"),
	each(journalctlRule, "journalctl"),
	each(mountRule, "mount"),
	each(func(c *call, _ string, _ []arg) { c.never("destroys or reformats storage") }, "mkfs"),
	each(amtoolRule, "amtool"),
	each(pythonRule, "python3"),
	each(readOnlyCommand,
		"cat", "tac", "head", "tail", "less", "wc", "cut", "tr", "column", "paste", "fold", "nl", "rev",
		"grep", "egrep", "fgrep", "zgrep", "rg", "jq", "ls", "tree", "stat", "file", "readlink",
		"realpath", "basename", "dirname", "pwd", "whoami", "id", "who", "uptime", "uname", "nproc",
		"lscpu", "lsblk", "findmnt", "df", "du", "free", "vmstat", "iostat", "ps", "pgrep", "pidof",
		"pstree", "lsof", "ss", "netstat", "ping", "traceroute", "tracepath", "mtr", "dig", "host",
		"nslookup", "getent", "echo", "true", "false", "test", "[", ":", "seq", "expr", "printenv",
		"which", "type", "md5sum", "sha256sum", "diff", "cmp", "comm", "strings", "od", "hexdump",
		"base64", "pg_isready", "lsmod", "wait", "exit", "return", "break", "continue", "set", "zcat",
		"top", "systemd-analyze", "promtool", "iptables-save", "timedatectl"),
)

// rules is the registry by name, made in init: the rules call back into
// the walker, which dispatches through rules.
var rules map[string]rule

func init() {
	rules = make(map[string]rule, len(registry))
	for _, e := range registry {
		rules[e.name] = e.rule
	}
}

// reached, set by tests, is told each registry entry a call goes through.
var reached func(name string)

func (c *call) dispatch() {
	name := c.args[0].s
	r, ok := rules[name]
	if !ok {
		c.mutating("unknown command (not on the read-only list)")
		return
	}
	if reached != nil {
		reached(name)
	}
	r(c, name, c.args[1:])
}

// readOnlyCommand is the rule of the commands that only read, unless an
// argument names a secret file.
func readOnlyCommand(c *call, name string, a []arg) {
	if name != "echo" && c.readsSecret(a) {
		return
	}
	c.readOnly("read-only command")
}

// readsSecret refuses a read-only command (cat, grep, head…) one of whose
// arguments names a secret file, as the Read tool is refused: reading is how a
// secret reaches the model. Options' values (--file=x) count; URLs do not.
func (c *call) readsSecret(args []arg) bool {
	for _, a := range args {
		if !a.lit {
			continue
		}
		s := a.s
		if strings.HasPrefix(s, "-") {
			i := strings.IndexByte(s, '=')
			if i < 0 {
				continue
			}
			s = s[i+1:]
		}
		if s == "" || strings.Contains(s, "://") {
			continue
		}
		p, ok := c.sc.resolve(s)
		if !ok {
			p = s
		}
		if why := secretPath(p); why != "" {
			c.never("reads " + why)
			return true
		}
	}
	return false
}
