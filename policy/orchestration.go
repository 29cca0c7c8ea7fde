// Cluster and deployment tools: kubectl, helm, ansible and terraform.

package policy

import (
	"slices"
	"strings"
)

var kubectlSpec = optSpec{short: "nslfoLcpPi", long: []string{"namespace", "context", "kubeconfig", "server", "cluster", "user", "token", "selector", "filename", "output", "as", "as-group", "container", "field-selector", "request-timeout", "cache-dir", "certificate-authority", "client-certificate", "client-key", "tls-server-name", "template", "sort-by", "label-columns", "timeout", "since", "tail", "since-time", "type", "replicas", "image", "port", "field-manager", "grace-period", "from-literal", "from-file", "from-env-file", "patch", "subresource", "chunk-size", "kustomize", "pod-running-timeout", "profile", "password", "username"}}

func (c *call) kubectl(a []arg) {
	o := parseOpts(a, kubectlSpec)
	pos := o.pos
	if len(pos) == 0 {
		c.readOnly("kubectl help")
		return
	}
	if !pos[0].lit {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "kubectl verb is not literal"})
		return
	}
	dryRun := false
	if v, ok := o.get("--dry-run"); ok && v != "none" {
		dryRun = true
	}
	all := o.has("--all", "-A", "--all-namespaces", "-l", "--selector")
	verb := pos[0].s
	res := func(from int) []arg {
		// "deploy/api web/x" or "deployment api web"
		if from >= len(pos) {
			return nil
		}
		if strings.Contains(pos[from].s, "/") {
			return pos[from:]
		}
		return pos[from+1:]
	}
	stripRes := func(s string) string { return s[strings.LastIndex(s, "/")+1:] }
	switch verb {
	case "get", "describe", "logs", "top", "explain", "api-resources", "api-versions", "version",
		"cluster-info", "events", "diff", "wait", "kustomize", "completion", "options", "plugin":
		c.readOnly("kubectl " + verb)
	case "auth":
		c.readOnly("kubectl auth")
	case "config":
		if len(pos) > 1 && (pos[1].s == "view" || strings.HasPrefix(pos[1].s, "get-") || pos[1].s == "current-context") {
			c.readOnly("kubectl config " + pos[1].s)
			return
		}
		c.mutating("kubectl config " + firstWord(pos[1:]))
	case "rollout":
		if len(pos) < 2 {
			c.readOnly("kubectl rollout")
			return
		}
		switch pos[1].s {
		case "status", "history":
			c.readOnly("kubectl rollout " + pos[1].s)
		case "restart":
			t := res(2)
			if all || len(t) == 0 {
				c.w.add(Step{Kind: Restart, Argv: c.argv(), Reason: "kubectl rollout restart of every match", Opaque: true})
				return
			}
			c.targets(Restart, "kubectl rollout restart", t, stripRes)
		case "undo":
			c.targets(Redeploy, "kubectl rollout undo", res(2), stripRes)
		default:
			c.mutating("kubectl rollout " + pos[1].s)
		}
	case "apply", "replace", "create", "set", "patch":
		if dryRun {
			c.readOnly("kubectl --dry-run")
			return
		}
		if slices.ContainsFunc(pos[1:], func(x arg) bool { return x.s == "secret" || x.s == "secrets" || strings.HasPrefix(x.s, "secret/") }) {
			c.never("changes secrets")
			return
		}
		if verb == "set" && len(pos) > 2 {
			c.targets(Redeploy, "kubectl set "+pos[1].s, res(2)[:min(1, len(res(2)))], stripRes)
			return
		}
		if verb == "create" {
			c.mutating("kubectl create")
			return
		}
		c.add(Redeploy, "kubectl "+verb+" changes workloads")
	case "delete":
		if dryRun {
			c.readOnly("kubectl --dry-run")
			return
		}
		if o.has("-f", "--filename", "-k", "--kustomize") || all {
			c.never("kubectl delete of unknown or many resources may remove volumes")
			return
		}
		for _, x := range pos[1:] {
			r := strings.ToLower(strings.SplitN(x.s, "/", 2)[0])
			for _, t := range strings.Split(r, ",") {
				switch t {
				case "pvc", "pvcs", "persistentvolumeclaim", "persistentvolumeclaims", "pv", "pvs",
					"persistentvolume", "persistentvolumes", "ns", "namespace", "namespaces",
					"secret", "secrets", "statefulset", "statefulsets", "sts", "volumesnapshot", "volumesnapshots":
					c.never("kubectl delete " + t + " removes data, volumes or secrets")
					return
				case "networkpolicy", "networkpolicies", "netpol", "service", "services", "svc", "ingress", "ingresses", "ing":
					c.never("kubectl delete " + t + " changes network configuration")
					return
				}
			}
			if !x.lit {
				c.w.add(Step{Kind: Never, Argv: c.argv(), Reason: "kubectl delete of a resource that is not literal", Opaque: true})
				return
			}
		}
		c.mutating("kubectl delete")
	case "exec":
		// kubectl exec pod -- cmd ...
		for i, x := range a {
			if x.s == "--" {
				c.w.argv(a[i+1:], remoteScope(), c.in, c.depth+1, c.appended)
				return
			}
		}
		if len(pos) > 2 {
			c.w.argv(pos[2:], remoteScope(), c.in, c.depth+1, c.appended)
			return
		}
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "kubectl exec of an interactive shell"})
	case "edit":
		c.add(Redeploy, "kubectl edit")
	default:
		c.mutating("kubectl " + verb)
	}
}

func (c *call) helm(a []arg) {
	o := parseOpts(a, optSpec{short: "nfor", long: []string{"namespace", "kube-context", "kubeconfig", "values", "set", "set-string", "set-file", "set-json", "version", "output", "timeout", "description", "history-max", "repo", "username", "password", "ca-file", "cert-file", "key-file", "registry-config", "repository-config", "repository-cache", "kube-apiserver", "kube-as-user", "kube-token", "max", "revision", "post-renderer-args", "wait-for-jobs", "burst-limit", "qps", "name-template", "labels", "hide-secret"}})
	if _, ok := o.get("--post-renderer"); ok {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "helm --post-renderer runs a program"})
		return
	}
	if len(o.pos) == 0 {
		c.readOnly("helm help")
		return
	}
	verb := o.pos[0].s
	if o.has("--dry-run") {
		c.readOnly("helm --dry-run")
		return
	}
	switch verb {
	case "upgrade", "install", "rollback":
		t := o.pos[1:min(2, len(o.pos))]
		if verb == "install" && o.has("--generate-name", "-g") {
			t = nil
		}
		c.targets(Redeploy, "helm "+verb, t, nil)
	case "list", "ls", "status", "get", "history", "hist", "show", "inspect", "template", "search", "version",
		"env", "lint", "verify", "completion":
		c.readOnly("helm " + verb)
	case "repo", "dependency", "dep", "plugin":
		if len(o.pos) > 1 && (o.pos[1].s == "list" || o.pos[1].s == "ls") {
			c.readOnly("helm " + verb + " list")
			return
		}
		c.mutating("helm " + verb)
	default:
		c.mutating("helm " + verb)
	}
}

func (c *call) ansible(a []arg) {
	o := parseOpts(a, optSpec{short: "iMmaeflutTBPkKbc", long: []string{"inventory", "module-name", "args", "extra-vars", "forks", "limit", "user", "tree", "timeout", "background", "poll", "become-user", "become-method", "connection", "private-key", "module-path", "vault-password-file", "vault-id"}})
	if o.has("-C", "--check", "--list-hosts", "--syntax-check") {
		c.readOnly("ansible check mode")
		return
	}
	mod, _ := o.get("-m", "--module-name")
	args, _ := o.get("-a", "--args")
	switch mod {
	case "ping", "setup", "gather_facts", "stat", "debug", "service_facts", "package_facts":
		c.readOnly("ansible " + mod)
	case "", "command", "shell", "raw", "ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw":
		if args == "" {
			c.mutating("ansible without arguments")
			return
		}
		c.w.script(args, remoteScope(), input{}, c.depth+1)
	case "service", "systemd", "ansible.builtin.service", "ansible.builtin.systemd", "systemd_service":
		kv := map[string]string{}
		for _, f := range strings.Fields(args) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		switch kv["state"] {
		case "restarted", "reloaded", "started":
			c.targets(Restart, "ansible "+mod+" "+kv["state"], lits(kv["name"]), stripUnit)
		default:
			c.mutating("ansible " + mod)
		}
	default:
		c.mutating("ansible module " + mod)
	}
}

func (c *call) terraform(a []arg) {
	o := parseOpts(a, optSpec{short: "", long: []string{"var", "var-file", "target", "state", "state-out", "backup", "lock-timeout", "parallelism", "out"}})
	if len(o.pos) == 0 {
		c.readOnly("terraform help")
		return
	}
	verb := o.pos[0].s
	switch verb {
	case "apply":
		if o.has("-destroy", "--destroy") {
			c.never("terraform apply -destroy destroys infrastructure and data")
			return
		}
		c.add(Redeploy, "terraform apply")
	case "destroy":
		c.never("terraform destroy destroys infrastructure and data")
	case "plan", "show", "output", "validate", "version", "providers", "graph", "console":
		if verb == "plan" && o.has("-destroy", "--destroy") {
			c.readOnly("terraform plan")
			return
		}
		c.readOnly("terraform " + verb)
	case "state":
		if len(o.pos) > 1 && (o.pos[1].s == "list" || o.pos[1].s == "show" || o.pos[1].s == "pull") {
			c.readOnly("terraform state " + o.pos[1].s)
			return
		}
		c.mutating("terraform state")
	case "fmt":
		if o.has("-check", "--check") {
			c.readOnly("terraform fmt -check")
			return
		}
		c.writes(lits("."), writeContent, "terraform fmt rewrites files")
	default:
		c.mutating("terraform " + verb)
	}
}

func ansiblePlaybookRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "iloefutTMkKbcCs", long: []string{"inventory", "limit", "extra-vars", "forks", "user", "tags", "skip-tags", "vault-password-file", "vault-id", "start-at-task", "connection", "timeout", "become-user", "become-method", "private-key", "module-path"}})
	if o.has("-C", "--check", "--syntax-check", "--list-hosts", "--list-tasks", "--list-tags") {
		c.readOnly("ansible-playbook check mode")
		return
	}
	c.add(Redeploy, "runs an Ansible playbook")
}
