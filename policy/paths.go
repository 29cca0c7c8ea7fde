// Path rules: the repos dir, data volumes, system directories, secrets,
// network configuration, devices and executable paths, and how writing a path
// is classified.

package policy

import (
	"path"
	"strings"
)

// harmlessTargets are redirection targets that write nothing.
var harmlessTargets = map[string]bool{
	"/dev/null": true, "/dev/stdout": true, "/dev/stderr": true, "/dev/tty": true,
	"/dev/zero": true, "/dev/full": true,
}

// trustedDirs hold the system's own programs: a command named by a path
// elsewhere may be anything, whatever its name.
var trustedDirs = map[string]bool{
	"/bin": true, "/sbin": true, "/usr/bin": true, "/usr/sbin": true,
	"/usr/local/bin": true, "/usr/local/sbin": true, "/snap/bin": true,
}

func cleanAbs(p string) string {
	if p == "" || !path.IsAbs(p) {
		return ""
	}
	return path.Clean(p)
}

// writeMode says how a command touches a path.
type writeMode int

const (
	writeContent writeMode = iota // creates or changes the file
	writeMeta                     // changes owner or mode only
	destroy                       // removes it, recursively: ancestors count
)

// volumeDirs hold container data volumes.
var volumeDirs = []string{"/var/lib/docker", "/var/lib/containers", "/var/lib/kubelet/pods", "/var/lib/rancher", "/var/lib/longhorn"}

// systemTops are directories whose removal destroys the host.
var systemTops = []string{"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt",
	"/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/mnt", "/data"}

// networkFiles are network configuration.
var networkFiles = []string{"/etc/network", "/etc/netplan", "/etc/sysconfig/network-scripts",
	"/etc/NetworkManager", "/etc/resolv.conf", "/etc/hosts", "/etc/iptables", "/etc/nftables.conf",
	"/etc/ufw", "/etc/firewalld", "/etc/systemd/network", "/etc/wireguard", "/etc/dhcp"}

// execDirs are paths whose contents run as code: writing them is not a Tier 2
// fix, whatever the tool.
var execDirs = []string{"/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/snap",
	"/opt", "/boot", "/etc/systemd", "/lib/systemd", "/run/systemd", "/etc/init.d", "/etc/rc.d",
	"/etc/rc.local", "/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/cron.weekly",
	"/etc/cron.monthly", "/etc/crontab", "/var/spool/cron", "/etc/profile", "/etc/profile.d",
	"/etc/bash.bashrc", "/etc/environment", "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/sudoers", "/etc/sudoers.d", "/etc/pam.d", "/etc/security", "/etc/apt", "/etc/yum.repos.d",
	"/etc/docker", "/etc/containerd", "/etc/udev", "/etc/modprobe.d", "/etc/sysctl.conf", "/etc/sysctl.d",
	"/etc/supervisor", "/etc/logrotate.d", "/var/run/docker.sock", "/run/docker.sock"}

// IsExecPath reports whether writing the absolute path p can make code run:
// binaries, libraries, service units, cron, shell start-up files, sudoers,
// the container runtime's configuration.
func IsExecPath(p string) bool {
	p = path.Clean(p)
	for _, d := range execDirs {
		if under(p, d) {
			return true
		}
	}
	switch path.Base(p) {
	case ".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zprofile", ".bash_logout",
		".pam_environment", "authorized_keys", "crontab":
		return true
	}
	return false
}

// under reports whether p is d or inside it (both clean and absolute).
func under(p, d string) bool {
	return p == d || d == "/" || strings.HasPrefix(p, d+"/")
}

// covers compares a path (which may hold glob characters) with a protected
// directory: in reports the path is the directory or inside it; above that it
// is one of its ancestors (removing it removes the directory).
func covers(p, dir string) (in, above bool) {
	if dir == "" {
		return false, false
	}
	pc := splitPath(p)
	dc := splitPath(dir)
	n := min(len(pc), len(dc))
	for i := 0; i < n; i++ {
		ok, err := path.Match(pc[i], dc[i])
		if err != nil || !ok {
			if pc[i] != dc[i] {
				return false, false
			}
		}
		if pc[i] == "**" {
			return true, true
		}
	}
	if len(pc) >= len(dc) {
		return true, false
	}
	return false, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// secretPath returns what kind of secret p is, or "".
func secretPath(p string) string {
	base := path.Base(p)
	comps := splitPath(p)
	for _, c := range comps[:max(0, len(comps)-1)] {
		switch c {
		case ".ssh", "secrets", ".gnupg", ".aws", ".kube", ".docker", ".claude", ".config/gcloud", "private":
			return "a secret file (" + c + "/)"
		}
	}
	switch {
	case base == ".env" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env"),
		strings.HasSuffix(base, ".pem"), strings.HasSuffix(base, ".key"), strings.HasSuffix(base, ".p12"),
		strings.HasSuffix(base, ".pfx"), strings.HasSuffix(base, ".jks"), strings.HasSuffix(base, ".keystore"),
		strings.HasPrefix(base, "id_rsa"), strings.HasPrefix(base, "id_ed25519"), strings.HasPrefix(base, "id_ecdsa"),
		strings.HasPrefix(base, "id_dsa"), base == ".netrc", base == ".pgpass", base == ".my.cnf",
		base == ".htpasswd", base == "htpasswd", base == ".git-credentials", base == "credentials",
		base == "credentials.json", base == ".vault-token", base == "kubeconfig", base == ".claude.json",
		strings.Contains(strings.ToLower(base), "secret"), strings.Contains(strings.ToLower(base), "password"):
		return "a secret file (" + base + ")"
	}
	switch p {
	case "/etc/shadow", "/etc/gshadow", "/etc/passwd", "/etc/group", "/etc/shadow-", "/etc/passwd-",
		"/etc/master.passwd", "/etc/security/opasswd":
		return "the password database (" + p + ")"
	}
	return ""
}

// pathRisk classifies touching a path.
func (w *walker) pathRisk(a arg, sc *scope, mode writeMode) (Kind, string, bool) {
	if !a.lit {
		return Mutating, "writes a path that is not literal (" + a.s + ")", true
	}
	p := a.s
	if p == "" {
		return Mutating, "writes an empty path", false
	}
	abs, ok := sc.resolve(p)
	if !ok {
		if w.repos != "" {
			return Never, "writes " + p + ", relative to an unknown directory that may be the repos dir", false
		}
		return Mutating, "writes " + p, true
	}
	if !sc.remote || path.IsAbs(p) {
		if in, above := covers(abs, w.repos); in || (above && mode == destroy) {
			return Never, "modifies files under the repos dir (" + abs + ")", false
		}
	}
	for _, d := range volumeDirs {
		if in, above := covers(abs, d); in || (above && mode == destroy) {
			return Never, "touches data volumes (" + abs + ")", false
		}
	}
	if mode == destroy {
		for _, t := range systemTops {
			if in, _ := covers(t, abs); in && len(splitPath(abs)) <= 1 {
				return Never, "destroys a system directory (" + abs + ")", false
			}
		}
		if abs == "/" || strings.ContainsAny(path.Dir(abs), "*?[") && len(splitPath(abs)) <= 2 {
			return Never, "destroys a system directory (" + abs + ")", false
		}
	}
	if mode != writeMeta {
		if r := secretPath(abs); r != "" {
			return Never, "writes " + r, false
		}
	}
	for _, n := range networkFiles {
		if in, _ := covers(abs, n); in {
			return Never, "changes network configuration (" + abs + ")", false
		}
	}
	if strings.HasPrefix(abs, "/dev/") && !harmlessTargets[abs] && !strings.HasPrefix(abs, "/dev/fd/") &&
		!strings.HasPrefix(abs, "/dev/shm/") {
		return Never, "writes a device (" + abs + ")", false
	}
	if strings.HasPrefix(abs, "/proc/sys/net") {
		return Never, "changes network configuration (" + abs + ")", false
	}
	return Mutating, "writes " + p, false
}
