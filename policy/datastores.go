// Data store clients: redis-cli and the SQL shells.

package policy

import (
	"regexp"
	"strings"
)

var redisRead = map[string]bool{
	"PING": true, "INFO": true, "GET": true, "MGET": true, "EXISTS": true, "TTL": true, "PTTL": true,
	"TYPE": true, "SCAN": true, "DBSIZE": true, "STRLEN": true, "HGET": true, "HGETALL": true, "HLEN": true,
	"HKEYS": true, "LLEN": true, "LRANGE": true, "SCARD": true, "SMEMBERS": true, "ZCARD": true, "ZRANGE": true,
	"XLEN": true, "XINFO": true, "MEMORY": false, "SLOWLOG": false, "ROLE": true, "TIME": true, "LASTSAVE": true,
	"KEYS": true, "ECHO": true, "LATENCY": false, "CLUSTER": false, "CLIENT": false, "CONFIG": false,
}

func (c *call) redis(a []arg) {
	o := parseOpts(a, optSpec{short: "hpsanuir", long: []string{"user", "pass", "tls-cert", "cacert", "key", "sni", "eval", "rdb", "pattern", "count", "bigkeys-count"}, stop: true})
	if o.has("--rdb", "--eval", "--pipe", "--functions-rdb") {
		c.mutating("redis-cli " + "dump, eval or pipe")
		return
	}
	if o.has("--stat", "--bigkeys", "--memkeys", "--hotkeys", "--latency", "--latency-history", "--scan", "--version") && len(o.pos) == 0 {
		c.readOnly("redis-cli statistics")
		return
	}
	if len(o.pos) == 0 {
		c.mutating("redis-cli reads commands from standard input")
		return
	}
	cmd := strings.ToUpper(o.pos[0].s)
	sub := ""
	if len(o.pos) > 1 {
		sub = strings.ToUpper(o.pos[1].s)
	}
	switch {
	case redisRead[cmd]:
		c.readOnly("redis " + cmd)
	case (cmd == "CONFIG" && sub == "GET") || (cmd == "CLIENT" && (sub == "LIST" || sub == "INFO")) ||
		(cmd == "SLOWLOG" && (sub == "GET" || sub == "LEN")) || (cmd == "MEMORY" && (sub == "USAGE" || sub == "STATS" || sub == "DOCTOR")) ||
		(cmd == "CLUSTER" && (sub == "INFO" || sub == "NODES")) || (cmd == "LATENCY" && sub != "RESET"):
		c.readOnly("redis " + cmd + " " + sub)
	case cmd == "ACL" && sub != "LIST" && sub != "WHOAMI" && sub != "CAT" && sub != "USERS",
		cmd == "CONFIG" && sub == "SET" && len(o.pos) > 2 && strings.Contains(strings.ToLower(o.pos[2].s), "pass"),
		cmd == "FLUSHALL", cmd == "FLUSHDB":
		c.never("redis " + cmd + " destroys data or changes credentials")
	default:
		c.mutating("redis " + cmd)
	}
}

var sqlRead = regexp.MustCompile(`(?is)^\s*(select|show|explain|describe|desc|\\d\S*|\\l|\\dt|\\conninfo|with\s)\b?`)
var sqlPassword = regexp.MustCompile(`(?i)\bpassword\b`)

var sqlBad = regexp.MustCompile(`(?i)\b(into|insert|update|delete|drop|alter|create|truncate|grant|revoke|password|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|setval|nextval|lo_import|lo_export|copy|dblink|pg_read_file|set_config|call|do|vacuum|analyze|reindex|cluster|refresh|lock|kill|shutdown|flush|reset|load_file|outfile|dumpfile)\b`)

func (c *call) sql(name string, a []arg) {
	var q []string
	for i, x := range a {
		switch {
		case x.s == "-c" || x.s == "--command" || x.s == "-e" || x.s == "--execute" || x.s == "--eval" || x.s == "-q" || x.s == "--query":
			if i+1 < len(a) {
				q = append(q, a[i+1].s)
				if !a[i+1].lit {
					c.mutating(name + " query is not literal")
					return
				}
			}
		case strings.HasPrefix(x.s, "--command=") || strings.HasPrefix(x.s, "--execute=") || strings.HasPrefix(x.s, "--query="):
			q = append(q, strings.SplitN(x.s, "=", 2)[1])
		case x.s == "-f" || x.s == "--file" || strings.HasPrefix(x.s, "--file="):
			c.mutating(name + " runs an SQL file")
			return
		}
	}
	if name == "sqlite3" {
		o := parseOpts(a, optSpec{short: "", long: []string{"cmd", "separator", "nullvalue"}})
		if len(o.pos) > 1 {
			for _, x := range o.pos[1:] {
				q = append(q, x.s)
			}
		}
	}
	if len(q) == 0 {
		c.mutating(name + " reads queries from standard input")
		return
	}
	for _, s := range q {
		body := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
		if strings.Contains(body, ";") || !sqlRead.MatchString(body) || sqlBad.MatchString(body) {
			if sqlPassword.MatchString(body) {
				c.never(name + " query changes a password")
				return
			}
			c.mutating(name + " query is not a single read-only statement")
			return
		}
	}
	c.readOnly("read-only query")
}
