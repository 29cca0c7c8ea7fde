// The HTTP client curl.

package policy

import "strings"

func (c *call) curl(a []arg) {
	o := parseOpts(a, optSpec{short: "XdFToDKHuAebcmwrxyzEYCQt", long: []string{"request", "data", "data-raw", "data-binary", "data-urlencode", "data-ascii", "json", "form", "form-string", "upload-file", "output", "dump-header", "config", "header", "user", "user-agent", "referer", "cookie", "cookie-jar", "max-time", "connect-timeout", "write-out", "range", "proxy", "time-cond", "retry", "retry-delay", "retry-max-time", "resolve", "cacert", "cert", "key", "url", "unix-socket", "abstract-unix-socket", "interface", "dns-servers", "limit-rate", "max-filesize", "trace", "trace-ascii", "stderr", "output-dir", "connect-to", "proxy-user", "oauth2-bearer", "aws-sigv4", "ciphers", "cert-type", "key-type", "pass", "expect100-timeout", "happy-eyeballs-timeout-ms", "keepalive-time", "local-port", "max-redirs", "netrc-file", "noproxy", "preproxy", "proto", "proto-redir", "quote", "socks5", "socks5-hostname", "telnet-option", "tls-max", "variable", "expand-url", "url-query", "mail-from", "mail-rcpt", "hostpubmd5", "hostpubsha256", "pinnedpubkey", "request-target", "service-name", "sasl-authzid", "login-options", "delegation", "crlfile", "capath", "engine", "ftp-account", "ftp-method", "ftp-port", "ftp-ssl-ccc-mode", "krb", "libcurl", "proxy-header", "ssl-sessions", "etag-save", "etag-compare", "hsts", "alt-svc"}})
	if o.has("-K", "--config") {
		c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "curl reads options from a file"})
		return
	}
	method, hasMethod := o.get("-X", "--request")
	method = strings.ToUpper(method)
	sends := o.has("-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--data-ascii", "--json", "-F", "--form", "--form-string", "-T", "--upload-file", "-Q", "--quote", "--mail-rcpt")
	get := o.has("-G", "--get")
	mut := (hasMethod && method != "GET" && method != "HEAD" && method != "OPTIONS") || (sends && !get)
	if mut {
		if o.has("--unix-socket", "--abstract-unix-socket") {
			c.w.add(Step{Kind: Mutating, Opaque: true, Argv: c.argv(), Reason: "curl changes state through a unix socket (the container runtime's API?)"})
			return
		}
		c.mutating("curl sends data or a mutating method")
		return
	}
	var outs []arg
	for _, k := range []string{"-o", "--output", "-D", "--dump-header", "-c", "--cookie-jar", "--trace", "--trace-ascii", "--stderr", "--etag-save", "--hsts", "--alt-svc", "--libcurl"} {
		if v, ok := o.get(k); ok && v != "-" && !harmlessTargets[v] {
			outs = append(outs, arg{s: v, lit: true})
		}
	}
	if o.has("-O", "--remote-name", "--remote-name-all", "-J") {
		d, ok := o.get("--output-dir")
		if !ok {
			d = "."
		}
		outs = append(outs, arg{s: d + "/downloaded-file", lit: true})
	}
	if len(outs) > 0 {
		c.writes(outs, writeContent, "curl writes a file")
		return
	}
	c.readOnly("HTTP read")
}
