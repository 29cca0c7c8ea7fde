package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// DefaultSecretPaths are the paths hidden when Sandbox.SecretPaths is nil.
func DefaultSecretPaths() []string {
	return []string{
		// Credentials by name, anywhere.
		".env*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "id_*",
		".ssh", ".kube", "kubeconfig*", "*.kubeconfig", ".docker", ".aws", ".gnupg",
		".netrc", ".pgpass", ".git-credentials", "secrets",
		// System secrets.
		"/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh/ssh_host_*_key",
		"/etc/ssl/private", "/etc/kubernetes", "/etc/rancher", "/var/lib/docker", "/var/lib/containerd",
		"/var/lib/kubelet", "/proc/*/environ",
		// Sockets (docker.sock, containerd, systemd, dbus) and home dirs.
		"/run", "/var/run", "/root", "/home",
	}
}

// secretPattern is one parsed entry of SecretPaths.
type secretPattern struct {
	abs  bool   // an absolute path or glob
	glob bool   // has glob characters
	pat  string // the absolute path/glob, or the name pattern
}

func (s *Sandbox) patterns() ([]secretPattern, error) {
	paths := s.SecretPaths
	if paths == nil {
		paths = DefaultSecretPaths()
	}
	var out []secretPattern
	for _, p := range paths {
		orig := p
		if p == "" {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			p = strings.TrimSuffix(strings.TrimPrefix(p, "**/"), "/**")
			if strings.Contains(p, "/") || p == "" || p == "**" {
				return nil, fmt.Errorf("secret path %q: want an absolute path or a name pattern without /", orig)
			}
		} else {
			p = filepath.Clean(p)
			if strings.Contains(p, "**") {
				return nil, fmt.Errorf("secret path %q: ** is only allowed as a leading **/ of a name pattern", orig)
			}
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("secret path %q: %w", orig, err)
		}
		out = append(out, secretPattern{abs: strings.HasPrefix(p, "/"), glob: strings.ContainsAny(p, "*?["), pat: p})
	}
	return out, nil
}

// credentialVar matches environment variable names that hold credentials.
var credentialVar = regexp.MustCompile(`(?i)(TOKEN|KEY|SECRET|PASSW|CRED|AUTH)`)

// deniedEnv lists the variables of env the CLI hides from Bash.
func (s *Sandbox) deniedEnv(env []string) []string {
	set := map[string]bool{"ANTHROPIC_API_KEY": true, "ANTHROPIC_AUTH_TOKEN": true}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if credentialVar.MatchString(k) || strings.HasPrefix(k, browserCredPrefix) {
			set[k] = true
		}
	}
	for _, k := range s.DenyEnv {
		set[k] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// hiddenPath is a secret file or directory that exists at session start.
type hiddenPath struct {
	path string // symlinks resolved
	dir  bool
}

// hiddenPaths finds what the secret paths name now: absolute paths, absolute
// globs expanded, and name patterns matched in a bounded walk of the working
// dir and ScanDirs.
func (s *Sandbox) hiddenPaths(pats []secretPattern, work string) ([]hiddenPath, error) {
	var out []hiddenPath
	seen := map[string]bool{}
	add := func(path string) error {
		real, err := filepath.EvalSymlinks(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("secret path %s: %w", path, err)
		}
		fi, err := os.Stat(real)
		if err != nil {
			return fmt.Errorf("secret path %s: %w", path, err)
		}
		if fi.IsDir() && neverTmpfs[real] {
			return fmt.Errorf("secret path %s: %s cannot be hidden whole", path, real)
		}
		if !seen[real] {
			seen[real] = true
			out = append(out, hiddenPath{path: real, dir: fi.IsDir()})
		}
		return nil
	}
	var names []string
	for _, p := range pats {
		switch {
		case !p.abs:
			names = append(names, p.pat)
		case underVirtual(p.pat):
			// The sandbox has its own /proc and /dev: see denyRules.
		case p.glob:
			matches, _ := filepath.Glob(p.pat)
			for _, m := range matches {
				if err := add(m); err != nil {
					return nil, err
				}
			}
		default:
			if err := add(p.pat); err != nil {
				return nil, err
			}
		}
	}
	limit := s.ScanLimit
	if limit <= 0 {
		limit = DefaultScanLimit
	}
	found, err := scanNames(append([]string{work}, s.ScanDirs...), names, limit)
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		if err := add(f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func underVirtual(p string) bool {
	for _, v := range []string{"/proc", "/dev", "/sys"} {
		if p == v || strings.HasPrefix(p, v+"/") {
			return true
		}
	}
	return false
}

// errScanLimit ends a walk that met too many entries.
var errScanLimit = errors.New("too many entries")

// scanNames walks roots for files and directories whose base name matches
// one of names; a match is not entered. Symlinks are not followed.
func scanNames(roots, names []string, limit int) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var found []string
	n := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path == root && errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if n++; n > limit {
				return errScanLimit
			}
			if path == root {
				return nil
			}
			for _, pat := range names {
				if ok, _ := filepath.Match(pat, d.Name()); ok {
					found = append(found, path)
					if d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
			}
			return nil
		})
		if errors.Is(err, errScanLimit) {
			return nil, fmt.Errorf("secret scan of %s: more than %d entries (raise Sandbox.ScanLimit)", root, limit)
		}
		if err != nil {
			return nil, fmt.Errorf("secret scan of %s: %w", root, err)
		}
	}
	return found, nil
}
