package runner

import (
	"fmt"
	"strings"
	"time"
)

// bridgeSpec is a port of the sandbox's loopback forwarded to a unix socket.
type bridgeSpec struct {
	port int
	sock string
}

// bridgeScript starts a socat per bridge in the sandbox's network namespace,
// waits for them to listen, and execs the CLI ("$@").
func bridgeScript(socat string, bridges []bridgeSpec) string {
	var b strings.Builder
	for _, br := range bridges {
		fmt.Fprintf(&b, "%s TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:%s &\n", sandboxQuote(socat), br.port, sandboxQuote(br.sock))
	}
	b.WriteString("i=0\n")
	for _, br := range bridges {
		// /proc/net/tcp lists a listener as 0100007F:<port in hex>, state 0A.
		fmt.Fprintf(&b, `until grep -q ' 0100007F:%04X 00000000:0000 0A' /proc/net/tcp; do
  i=$((i+1)); if [ $i -gt %d ]; then echo 'claude-ops sandbox: the bridge to %s did not start' >&2; exit 125; fi
  sleep 0.01
done
`, br.port, int(bridgeWait/(10*time.Millisecond)), strings.ReplaceAll(br.sock, "'", ""))
	}
	b.WriteString(`exec "$@"`)
	return b.String()
}

func sandboxQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
