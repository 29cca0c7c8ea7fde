// Rules of network tools: port checks, TLS, routes, the firewall.

package policy

func ncRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "pswiqTXxIO"})
	if o.has("-z") && !o.has("-l", "-e", "-c") {
		c.readOnly("port check")
		return
	}
	c.mutating("netcat can send data")
}

func opensslRule(c *call, _ string, a []arg) {
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
}

func routeRule(c *call, _ string, a []arg) {
	o := parseOpts(a, optSpec{short: "A"})
	if len(o.pos) == 0 {
		c.readOnly("routing table")
		return
	}
	c.never("changes network configuration")
}

func ufwRule(c *call, _ string, a []arg) {
	if len(a) == 0 || (a[0].lit && (a[0].s == "status" || a[0].s == "show" || a[0].s == "version" ||
		(a[0].s == "app" && len(a) > 1 && (a[1].s == "list" || a[1].s == "info")))) {
		c.readOnly("firewall status")
		return
	}
	c.never("changes network configuration")
}
