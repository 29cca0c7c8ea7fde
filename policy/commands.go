// The per-command table: which rule classifies each command name, the
// small rules inline, and the read-only allowlist for everything else.

package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

var readOnlyCmds = map[string]bool{
	"cat": true, "tac": true, "head": true, "tail": true, "less": true, "more": true, "wc": true,
	"cut": true, "tr": true, "column": true, "paste": true, "join": true, "fold": true, "fmt": true,
	"nl": true, "rev": true, "grep": true, "egrep": true, "fgrep": true, "zgrep": true, "rg": true,
	"ag": true, "jq": true, "ls": true, "dir": true, "tree": true, "stat": true, "file": true,
	"readlink": true, "realpath": true, "basename": true, "dirname": true, "pwd": true, "whoami": true,
	"id": true, "groups": true, "who": true, "w": true, "last": true, "lastlog": true, "uptime": true,
	"uname": true, "arch": true, "nproc": true, "lscpu": true, "lsmem": true, "lsblk": true, "blkid": true,
	"findmnt": true, "df": true, "du": true, "free": true, "vmstat": true, "iostat": true, "mpstat": true,
	"pidstat": true, "sar": true, "ps": true, "pgrep": true, "pidof": true, "pstree": true, "lsof": true,
	"ss": true, "netstat": true, "ping": true, "ping6": true, "traceroute": true, "tracepath": true,
	"mtr": true, "dig": true, "host": true, "nslookup": true, "whois": true, "getent": true, "echo": true,
	"printf": true, "true": true, "false": true, "test": true, "[": true, ":": true, "seq": true,
	"expr": true, "printenv": true, "which": true, "type": true, "whereis": true, "md5sum": true,
	"sha1sum": true, "sha256sum": true, "sha512sum": true, "cksum": true, "diff": true, "cmp": true,
	"comm": true, "strings": true, "od": true, "hexdump": true, "base64": true, "pg_isready": true,
	"lsns": true, "lsmod": true, "lspci": true, "lsusb": true, "sensors": true, "locale": true,
	"tty": true, "cal": true, "history": true, "jobs": true, "wait": true, "exit": true, "return": true,
	"break": true, "continue": true, "shift": true, "set": true, "ulimit": true, "umask": true,
	"envsubst": true, "numfmt": true, "shuf": true, "nmap": true, "zcat": true, "bzcat": true, "xzcat": true,
	"zless": true, "top": true, "htop": true, "systemd-analyze": true, "promtool": true, "iptables-save": true,
	"ip6tables-save": true, "timedatectl": true, "loginctl": true, "getfacl": true, "lsattr": true,
	"ldd": true, "nm": true, "objdump": true, "sha224sum": true, "sha384sum": true, "b2sum": true,
	"dmidecode": true, "free-m": true, "virt-what": true, "systemd-detect-virt": true, "cloud-init": false,
	"hash": true, "shopt": false, "kill": false, "yes": true, "xxd": true, "iconv": true, "tput": true,
	"sleep": true, "date": true, "hostname": true, "dmesg": true, "journalctl": true,
}

func (c *call) dispatch() {
	name := c.args[0].s
	a := c.args[1:]
	switch name {
	case "sudo", "doas", "pkexec", "runuser":
		c.sudo()
	case "su":
		o := parseOpts(a, optSpec{short: "cgGsw", long: []string{"command", "group", "supp-group", "shell", "whitelist-environment"}})
		if v, ok := o.get("-c", "--command"); ok {
			c.shell(arg{s: v, lit: true}, c.sc.child(nil), c.in)
			return
		}
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "su without -c runs a shell on standard input"})
	case "env":
		c.env()
	case "nohup", "setsid", "unbuffer", "builtin", "catchsegv", "chronic":
		o := parseOpts(a, optSpec{stop: true})
		c.inner(o.pos)
	case "exec":
		o := parseOpts(a, optSpec{short: "a", stop: true})
		if len(o.pos) == 0 {
			c.readOnly("exec without a command (redirections only)")
			return
		}
		c.inner(o.pos)
	case "command":
		o := parseOpts(a, optSpec{stop: true})
		if o.has("-v", "-V") {
			c.readOnly("looks a command up")
			return
		}
		c.inner(o.pos)
	case "time":
		o := parseOpts(a, optSpec{short: "fo", long: []string{"format", "output"}, stop: true})
		if v, ok := o.get("-o", "--output"); ok {
			c.writes([]arg{{s: v, lit: true}}, writeContent, "time writes its report")
		}
		c.inner(o.pos)
	case "nice":
		o := parseOpts(a, optSpec{short: "n", long: []string{"adjustment"}, stop: true})
		c.inner(o.pos)
	case "ionice":
		o := parseOpts(a, optSpec{short: "cnpPu", long: []string{"class", "classdata", "pid", "pgid", "uid"}, stop: true})
		c.inner(o.pos)
	case "stdbuf":
		o := parseOpts(a, optSpec{short: "ioe", long: []string{"input", "output", "error"}, stop: true})
		c.inner(o.pos)
	case "timeout":
		o := parseOpts(a, optSpec{short: "sk", long: []string{"signal", "kill-after"}, stop: true})
		if len(o.pos) == 0 {
			c.readOnly("timeout without a command")
			return
		}
		c.inner(o.pos[1:])
	case "chroot":
		o := parseOpts(a, optSpec{long: []string{"userspec", "groups"}, stop: true})
		if len(o.pos) < 2 {
			c.mutating("chroot runs a shell")
			return
		}
		c.inner(append([]arg{{s: "/chroot/" + o.pos[1].s, lit: o.pos[1].lit}}, o.pos[2:]...))
	case "nsenter":
		o := parseOpts(a, optSpec{short: "tSGmunipCUTrw", long: []string{"target", "setuid", "setgid", "root", "wd"}, stop: true})
		if len(o.pos) == 0 {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "nsenter runs an interactive shell"})
			return
		}
		c.inner(o.pos)
	case "flock":
		o := parseOpts(a, optSpec{short: "wEc", long: []string{"timeout", "conflict-exit-code", "command"}, stop: true})
		if v, ok := o.get("-c", "--command"); ok {
			c.shell(arg{s: v, lit: true}, c.sc.child(nil), c.in)
			return
		}
		if len(o.pos) > 1 {
			c.inner(o.pos[1:])
			return
		}
		c.readOnly("flock on a descriptor")
	case "watch":
		o := parseOpts(a, optSpec{short: "nq", long: []string{"interval", "equexit"}, stop: true})
		if o.has("-x", "--exec") {
			c.inner(o.pos)
			return
		}
		c.shellWords(o.pos, c.sc.child(nil), c.in)
	case "xargs":
		c.xargs()
	case "eval":
		c.shellWords(a, c.sc, c.in)
	case "trap":
		if len(a) >= 2 && a[0].lit && a[0].s != "-" && !strings.HasPrefix(a[0].s, "-") {
			c.shell(a[0], c.sc, input{})
			return
		}
		c.readOnly("trap listing or reset")
	case "alias":
		for _, x := range a {
			if _, v, ok := strings.Cut(x.s, "="); ok {
				c.shell(arg{s: v, lit: x.lit}, c.sc, input{})
			}
		}
		c.readOnly("alias")
	case "shopt":
		if slices.ContainsFunc(a, func(x arg) bool { return x.s == "expand_aliases" || !x.lit }) {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "enables aliases"})
			return
		}
		c.readOnly("shell option")
	case "source", ".":
		// The script may set anything: what was known is no longer.
		for k := range c.sc.vars {
			c.sc.vars[k] = val{}
		}
		c.sc.cwdOK = false
		c.mutating("runs a script file")
	case "printf":
		o := parseOpts(a, optSpec{short: "v"})
		if v, ok := o.get("-v"); ok {
			c.sc.vars[v] = val{}
		}
		c.readOnly("printf")
	case "hash":
		o := parseOpts(a, optSpec{short: "pt"})
		if o.has("-p") {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "hash -p changes which program a name runs"})
			return
		}
		c.readOnly("hash")
	case "enable":
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "enable changes shell builtins"})
	case "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "rbash", "yash":
		c.sh(a)
	case "busybox", "toybox":
		if len(a) == 0 {
			c.readOnly("lists applets")
			return
		}
		c.inner(a)
	case "ssh":
		c.ssh()
	case "cd", "pushd", "popd":
		if name == "cd" {
			o := parseOpts(a, optSpec{})
			if len(o.pos) == 0 {
				c.sc.cwdOK = false
			} else {
				c.sc.cd(o.pos[0])
			}
		} else {
			c.sc.cwdOK = false
		}
		c.readOnly("changes directory")
	case "unset":
		o := parseOpts(a, optSpec{})
		for _, x := range o.pos {
			if o.has("-f") {
				delete(c.sc.funcs, x.s)
			} else {
				c.sc.vars[x.s] = val{}
			}
		}
		c.readOnly("unsets variables")
	case "read", "mapfile", "readarray", "getopts", "printf-v":
		for _, x := range a {
			if isName(x.s) {
				c.sc.vars[x.s] = val{}
			}
		}
		c.readOnly("reads input into variables")
	case "declare", "typeset", "local", "export", "readonly":
		// Only reached with non-bash parsing; treat as assignments.
		for _, x := range a {
			if n, _, ok := strings.Cut(x.s, "="); ok {
				if dangerousVar(n) {
					c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "sets " + n})
				}
				c.sc.vars[n] = val{}
			}
		}
		c.readOnly("declares variables")
	case "find":
		c.find()
	case "docker", "podman", "nerdctl":
		c.docker(a)
	case "docker-compose", "podman-compose":
		c.compose(a)
	case "systemctl":
		c.systemctl(a)
	case "service", "rc-service", "invoke-rc.d":
		c.service(a)
	case "supervisorctl", "pm2":
		c.procManager(a)
	case "kubectl", "oc", "microk8s.kubectl", "k3s":
		if name == "k3s" {
			if len(a) > 0 && a[0].s == "kubectl" {
				c.kubectl(a[1:])
				return
			}
			c.mutating("k3s")
			return
		}
		c.kubectl(a)
	case "helm":
		c.helm(a)
	case "ansible-playbook":
		o := parseOpts(a, optSpec{short: "iloefutTMkKbcCs", long: []string{"inventory", "limit", "extra-vars", "forks", "user", "tags", "skip-tags", "vault-password-file", "vault-id", "start-at-task", "connection", "timeout", "become-user", "become-method", "private-key", "module-path"}})
		if o.has("-C", "--check", "--syntax-check", "--list-hosts", "--list-tasks", "--list-tags") {
			c.readOnly("ansible-playbook check mode")
			return
		}
		c.add(Redeploy, "runs an Ansible playbook")
	case "ansible":
		c.ansible(a)
	case "terraform", "tofu", "terragrunt":
		c.terraform(a)
	case "git":
		c.git(a)
	case "rm", "rmdir", "unlink", "shred", "srm", "wipe":
		o := parseOpts(a, optSpec{short: "nsu", long: []string{"interactive", "iterations", "size", "remove"}})
		if o.has("--no-preserve-root") {
			c.never("rm --no-preserve-root")
			return
		}
		c.writes(o.pos, destroy, "removes files")
	case "mv":
		o := parseOpts(a, optSpec{short: "tS", long: []string{"target-directory", "suffix", "backup"}})
		ps := o.pos
		if t, ok := o.get("-t", "--target-directory"); ok {
			ps = append(ps, arg{s: t, lit: true})
		}
		c.writes(ps, destroy, "moves files")
	case "cp", "install", "ln", "link":
		o := parseOpts(a, optSpec{short: "tSmogT", long: []string{"target-directory", "suffix", "mode", "owner", "group", "backup", "reflink", "sparse", "preserve", "no-preserve"}})
		var dst []arg
		if t, ok := o.get("-t", "--target-directory"); ok {
			dst = []arg{{s: t, lit: true}}
		} else if len(o.pos) > 0 {
			dst = o.pos[len(o.pos)-1:]
		}
		if name == "install" && o.has("-d") {
			dst = o.pos
		}
		c.writes(dst, writeContent, name+" writes files")
	case "rsync", "scp":
		c.copyRemote(a)
	case "touch", "mkdir", "truncate", "mkfifo", "mknod", "fallocate":
		o := parseOpts(a, optSpec{short: "dmrtsZlo", long: []string{"date", "mode", "reference", "time", "size", "context", "length", "offset"}})
		ps := o.pos
		if name == "mknod" && len(ps) > 1 {
			ps = ps[:1]
		}
		c.writes(ps, writeContent, name+" creates or changes files")
	case "tee":
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
	case "dd":
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
	case "chmod", "chown", "chgrp", "setfacl", "chattr", "chcon":
		c.permFix(a)
	case "sed":
		c.sed(a)
	case "awk", "gawk", "mawk", "nawk":
		c.awk(a)
	case "perl":
		o := parseOpts(a, optSpec{short: "eEIMmlx0i"})
		if o.has("-i") {
			start := 0
			if !o.has("-e", "-E") && len(o.pos) > 0 {
				start = 1
			}
			c.writes(o.pos[start:], writeContent, "perl -i edits files")
			return
		}
		c.mutating("runs a program")
	case "yq":
		o := parseOpts(a, optSpec{})
		if o.has("-i", "--inplace") && len(o.pos) > 1 {
			c.writes(o.pos[1:], writeContent, "yq -i edits files")
			return
		}
		c.readOnly("yq")
	case "sort":
		o := parseOpts(a, optSpec{short: "oktSTz", long: []string{"output", "key", "field-separator", "buffer-size", "temporary-directory", "parallel", "files0-from", "random-source", "compress-program", "sort", "batch-size"}})
		if v, ok := o.get("-o", "--output"); ok {
			c.writes([]arg{{s: v, lit: true}}, writeContent, "sort -o writes a file")
			return
		}
		c.readOnly("sort")
	case "uniq":
		o := parseOpts(a, optSpec{short: "fsw", long: []string{"skip-fields", "skip-chars", "check-chars", "all-repeated", "group"}})
		if len(o.pos) > 1 {
			c.writes(o.pos[1:2], writeContent, "uniq writes its output file")
			return
		}
		c.readOnly("uniq")
	case "curl":
		c.curl(a)
	case "wget":
		c.wget(a)
	case "nc", "ncat", "netcat":
		o := parseOpts(a, optSpec{short: "pswiqTXxIO"})
		if o.has("-z") && !o.has("-l", "-e", "-c") {
			c.readOnly("port check")
			return
		}
		c.mutating("netcat can send data")
	case "openssl":
		if len(a) > 0 && a[0].lit {
			switch a[0].s {
			case "s_client", "x509", "version", "verify", "ciphers", "crl", "asn1parse", "dgst", "list", "errstr", "speed":
				o := parseOpts(a[1:], optSpec{short: ""})
				if v, ok := o.get("-out"); ok && v != "" {
					c.mutating("openssl writes a file")
					return
				}
				c.readOnly("openssl inspection")
				return
			case "passwd", "rand":
				c.readOnly("openssl computation")
				return
			}
		}
		c.mutating("openssl may write keys")
	case "iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy", "iptables-nft", "ip6tables-nft", "ebtables", "arptables":
		c.iptables(a)
	case "iptables-restore", "ip6tables-restore", "iptables-apply", "ipset", "ifup", "ifdown", "ifenslave",
		"vconfig", "dhclient", "netplan", "wpa_cli", "iwconfig", "iw", "tunctl", "ovs-vsctl", "ovs-ofctl":
		if name == "ipset" && len(a) > 0 && (a[0].s == "list" || a[0].s == "-L" || a[0].s == "save") {
			c.readOnly("ipset listing")
			return
		}
		if name == "netplan" && len(a) > 0 && (a[0].s == "get" || a[0].s == "status") {
			c.readOnly("netplan status")
			return
		}
		c.never("changes network configuration")
	case "nft":
		c.nft(a)
	case "ip":
		c.ip(a)
	case "ifconfig":
		o := parseOpts(a, optSpec{})
		if len(o.pos) <= 1 {
			c.readOnly("interface listing")
			return
		}
		c.never("changes network configuration")
	case "route":
		o := parseOpts(a, optSpec{short: "A"})
		if len(o.pos) == 0 {
			c.readOnly("routing table")
			return
		}
		c.never("changes network configuration")
	case "arp":
		o := parseOpts(a, optSpec{short: "HifAt"})
		if o.has("-s", "-d", "-f", "--set", "--delete", "--file") {
			c.never("changes network configuration")
			return
		}
		c.readOnly("arp table")
	case "nmcli":
		c.nmcli(a)
	case "ufw":
		if len(a) == 0 || (a[0].lit && (a[0].s == "status" || a[0].s == "show" || a[0].s == "version" ||
			(a[0].s == "app" && len(a) > 1 && (a[1].s == "list" || a[1].s == "info")))) {
			c.readOnly("firewall status")
			return
		}
		c.never("changes network configuration")
	case "firewall-cmd":
		for _, x := range a {
			if !x.lit || !(strings.HasPrefix(x.s, "--list") || strings.HasPrefix(x.s, "--get") ||
				strings.HasPrefix(x.s, "--query") || strings.HasPrefix(x.s, "--info") || x.s == "--state" ||
				strings.HasPrefix(x.s, "--zone") || x.s == "--permanent") {
				c.never("changes network configuration")
				return
			}
		}
		c.readOnly("firewall status")
	case "tc", "bridge", "brctl", "wg", "resolvectl", "systemd-resolve", "conntrack", "ethtool":
		c.netQuery(name, a)
	case "sysctl":
		o := parseOpts(a, optSpec{short: "p", long: []string{"load", "pattern"}})
		writing := o.has("-w", "--write", "-p", "--load", "--system")
		for _, x := range o.pos {
			if strings.Contains(x.s, "=") {
				writing = true
			}
		}
		if !writing {
			c.readOnly("reads kernel parameters")
			return
		}
		for _, x := range o.pos {
			if strings.HasPrefix(x.s, "net.") || !x.lit {
				c.never("changes network configuration")
				return
			}
		}
		c.mutating("changes kernel parameters")
	case "passwd", "chpasswd", "chage", "htpasswd", "smbpasswd", "gpasswd", "vipw", "vigr", "pwconv",
		"pwunconv", "grpconv", "newusers", "ssh-copy-id", "pdbedit", "kpasswd", "chsh", "chfn":
		c.never("changes passwords or credentials")
	case "usermod", "useradd", "userdel", "groupadd", "groupdel", "groupmod", "adduser", "deluser":
		o := parseOpts(a, optSpec{short: "cdegGlsuLpU"})
		if o.has("-p", "--password", "-L", "--lock", "-U", "--unlock") {
			c.never("changes passwords")
			return
		}
		c.mutating("changes accounts")
	case "ssh-keygen":
		o := parseOpts(a, optSpec{short: "fCNbtEFRmOPZaDIhnrsVz"})
		if o.has("-l", "-y", "-F", "-B") && !o.has("-R") {
			c.readOnly("inspects a key")
			return
		}
		c.never("creates or changes keys")
	case "mysqladmin":
		for _, x := range a {
			if x.s == "password" || x.s == "drop" {
				c.never("mysqladmin " + x.s)
				return
			}
		}
		for _, x := range a {
			if x.lit && !strings.HasPrefix(x.s, "-") {
				switch x.s {
				case "ping", "status", "extended-status", "processlist", "variables", "version":
					continue
				}
				c.mutating("mysqladmin " + x.s)
				return
			}
		}
		c.readOnly("mysqladmin status")
	case "redis-cli":
		c.redis(a)
	case "psql", "mysql", "mariadb", "sqlite3", "clickhouse-client", "cqlsh", "mongosh", "mongo":
		c.sql(name, a)
	case "sleep":
		var total time.Duration
		for _, x := range a {
			d, ok := sleepDuration(x)
			if !ok {
				c.mutating("sleeps for an unbounded or unknown time")
				return
			}
			total += d
		}
		if total > maxSleep {
			c.mutating("sleeps longer than " + maxSleep.String())
			return
		}
		c.readOnly("sleep")
	case "date":
		o := parseOpts(a, optSpec{short: "dfrsI", long: []string{"date", "file", "reference", "set"}})
		if o.has("-s", "--set") {
			c.mutating("sets the clock")
			return
		}
		c.readOnly("date")
	case "hostname", "hostnamectl":
		o := parseOpts(a, optSpec{short: "F", long: []string{"file"}})
		if (name == "hostname" && (len(o.pos) > 0 || o.has("-F", "--file", "-b"))) ||
			(name == "hostnamectl" && len(o.pos) > 0 && o.pos[0].s != "status") {
			c.never("changes the host name (network configuration)")
			return
		}
		c.readOnly("host name")
	case "dmesg":
		o := parseOpts(a, optSpec{short: "FflnsT", long: []string{"file", "facility", "level", "console-level", "buffer-size", "time-format"}})
		if o.has("-c", "-C", "-D", "-E", "-n", "--clear", "--read-clear", "--console-off", "--console-on", "--console-level") {
			c.mutating("changes the kernel log")
			return
		}
		c.readOnly("kernel log")
	case "journalctl":
		for _, x := range a {
			if strings.HasPrefix(x.s, "--vacuum") || x.s == "--rotate" || x.s == "--flush" || x.s == "--sync" ||
				strings.Contains(x.s, "relinquish") || x.s == "--setup-keys" || x.s == "--update-catalog" {
				c.mutating("changes the journal")
				return
			}
		}
		c.readOnly("reads the journal")
	case "mount", "umount", "swapon", "swapoff":
		if len(a) == 0 || (name == "swapon" && len(a) == 1 && (a[0].s == "--show" || a[0].s == "-s")) {
			c.readOnly("mount table")
			return
		}
		c.mutating("changes mounts")
	case "mkfs", "mke2fs", "mkswap", "wipefs", "fdisk", "sfdisk", "parted", "gdisk", "sgdisk",
		"lvremove", "vgremove", "pvremove", "zpool", "zfs", "cryptsetup", "blkdiscard":
		if (name == "zfs" || name == "zpool") && len(a) > 0 && (a[0].s == "list" || a[0].s == "status" || a[0].s == "get") {
			c.readOnly("storage listing")
			return
		}
		if (name == "fdisk" || name == "sfdisk" || name == "parted") && slices.ContainsFunc(a, func(x arg) bool { return x.s == "-l" || x.s == "--list" }) {
			c.readOnly("partition listing")
			return
		}
		c.never("destroys or reformats storage")
	case "amtool":
		if len(a) > 0 && (a[0].s == "alert" || a[0].s == "check-config" || a[0].s == "config") &&
			!slices.ContainsFunc(a, func(x arg) bool { return x.s == "add" }) {
			c.readOnly("alertmanager query")
			return
		}
		if len(a) > 1 && a[0].s == "silence" && (a[1].s == "query" || a[1].s == "q") {
			c.readOnly("alertmanager query")
			return
		}
		c.mutating("changes Alertmanager state")
	case "vault":
		if len(a) > 0 && (a[0].s == "status" || a[0].s == "version" || a[0].s == "read" ||
			(a[0].s == "kv" && len(a) > 1 && (a[1].s == "get" || a[1].s == "list" || a[1].s == "metadata"))) {
			c.readOnly("vault read")
			return
		}
		c.never("changes secrets")
	case "gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zstd", "unzstd":
		o := parseOpts(a, optSpec{short: "S", long: []string{"suffix"}})
		if o.has("-c", "--stdout", "-l", "--list", "-t", "--test") {
			c.readOnly("reads an archive")
			return
		}
		c.writes(o.pos, destroy, name+" replaces files")
	case "tar":
		if slices.ContainsFunc(a, func(x arg) bool {
			return x.s == "--list" || (x.lit && !strings.HasPrefix(x.s, "--") && strings.Contains(strings.TrimPrefix(x.s, "-"), "t") && !strings.ContainsAny(strings.TrimPrefix(x.s, "-"), "xcru") && len(x.s) <= 8)
		}) {
			c.readOnly("lists an archive")
			return
		}
		c.w.add(Step{Kind: Mutating, Argv: c.argv(), Reason: "tar writes files"})
		if !c.sc.cwdOK && !c.sc.remote {
			c.writes([]arg{{s: ".", lit: true}}, writeContent, "tar may extract into the working directory")
		} else if k, _, _ := c.w.pathRisk(arg{s: ".", lit: true}, c.sc, writeContent); k == Never && slices.ContainsFunc(a, func(x arg) bool {
			return x.lit && !strings.HasPrefix(x.s, "--") && strings.Contains(x.s, "x")
		}) {
			c.never("tar extracts into the repos dir")
		}
	case "unzip":
		o := parseOpts(a, optSpec{short: "dx"})
		if o.has("-l", "-v", "-t", "-Z", "-p") {
			c.readOnly("lists an archive")
			return
		}
		dir, ok := o.get("-d")
		if !ok {
			dir = "."
		}
		c.writes([]arg{{s: dir, lit: true}}, writeContent, "unzip extracts files")
	case "crontab", "at", "batch", "systemd-run", "runc", "ctr", "crictl":
		if name == "crontab" && len(a) == 1 && a[0].s == "-l" {
			c.readOnly("lists the crontab")
			return
		}
		if name == "crictl" && len(a) > 0 {
			switch a[0].s {
			case "ps", "pods", "images", "inspect", "inspectp", "inspecti", "logs", "stats", "info", "version":
				c.readOnly("container runtime query")
				return
			}
		}
		c.mutating(name + " schedules or runs commands")
	case "reboot", "poweroff", "halt", "shutdown", "init", "telinit", "kexec":
		c.mutating("stops or reboots the host")
	case "python", "python3", "python2", "node", "nodejs", "ruby", "php", "lua", "deno", "bun", "Rscript", "pwsh", "tclsh", "expect", "osascript":
		o := parseOpts(a, optSpec{short: "mWXQ"})
		if o.has("-V", "--version") && len(o.pos) == 0 {
			c.readOnly("interpreter version")
			return
		}
		c.mutating("runs a program the gate cannot inspect")
	default:
		if readOnlyCmds[name] {
			if name != "echo" && c.readsSecret(a) {
				return
			}
			c.readOnly("read-only command")
			return
		}
		c.mutating("unknown command (not on the read-only list)")
	}
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

func sleepDuration(a arg) (time.Duration, bool) {
	if !a.lit || a.s == "" {
		return 0, false
	}
	s := a.s
	unit := time.Second
	switch s[len(s)-1] {
	case 's':
		s = s[:len(s)-1]
	case 'm':
		s, unit = s[:len(s)-1], time.Minute
	case 'h':
		s, unit = s[:len(s)-1], time.Hour
	case 'd':
		s, unit = s[:len(s)-1], 24*time.Hour
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0, false
	}
	return time.Duration(f * float64(unit)), true
}
