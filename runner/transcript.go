package runner

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
)

// transcript writes a session's JSONL transcript, redacted, one write per
// line as each arrives so a follower can tail the file. A nil *transcript
// discards everything. Stdout and stderr readers share it.
type transcript struct {
	mu  sync.Mutex
	w   io.Writer
	red *redactor
	buf []byte
	err error // first write error; later lines are dropped
}

func createTranscript(path string, red *redactor) (*transcript, *os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return &transcript{w: f, red: red}, f, nil
}

// stdoutLine writes a line of the CLI's stdout: JSON lines as they are, other
// lines wrapped so the file stays valid JSONL.
func (t *transcript) stdoutLine(line []byte, isJSON bool) {
	if t == nil {
		return
	}
	if !isJSON {
		t.wrapped("stdout", line)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = t.red.appendRedacted(t.buf[:0], line)
	t.write()
}

// stderrLine writes a line of the CLI's stderr as {"type":"stderr","line":...}.
func (t *transcript) stderrLine(line []byte) {
	if t == nil {
		return
	}
	t.wrapped("stderr", line)
}

func (t *transcript) wrapped(typ string, line []byte) {
	t.event(struct {
		Type string `json:"type"`
		Line string `json:"line"`
	}{typ, string(bytes.ToValidUTF8(line, []byte("\uFFFD")))})
}

// event writes one of our own objects as a line.
func (t *transcript) event(v any) {
	if t == nil {
		return
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return
	}
	line := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = t.red.appendRedacted(t.buf[:0], line)
	t.write()
}

// write appends the newline to t.buf and writes it; t.mu is held.
func (t *transcript) write() {
	if t.err != nil {
		return
	}
	t.buf = append(t.buf, '\n')
	_, t.err = t.w.Write(t.buf)
	if cap(t.buf) > 1<<20 {
		t.buf = nil // do not keep a huge line's buffer for the session
	}
}

// Err returns the first write error.
func (t *transcript) Err() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
