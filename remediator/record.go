package remediator

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/tsdb/encoding"

	"github.com/claude-ops/claude-ops/webhook"
)

// An inbox batch is the alerts one webhook request queued, in a binary
// record as Prometheus writes its WAL records (tsdb/encoding): a version
// byte, then the alerts, each as length-prefixed strings and varints.
// Encoding it costs a tenth of json.Marshal, on every request of a storm.
// Batches an older daemon wrote are JSON arrays, told apart by their '['.

const recordV1 = 1

// appendBatch appends the binary record of alerts to b.
func appendBatch(b []byte, alerts []webhook.Alert) []byte {
	e := encoding.Encbuf{B: b}
	e.PutByte(recordV1)
	e.PutUvarint(len(alerts))
	for i := range alerts {
		a := &alerts[i]
		e.PutUvarintStr(a.Service)
		e.PutUvarintStr(a.Status)
		e.PutUvarintStr(a.Fingerprint)
		putTime(&e, a.StartsAt)
		putTime(&e, a.EndsAt)
		putMap(&e, a.Labels)
		putMap(&e, a.Annotations)
		e.PutUvarintStr(a.GeneratorURL)
		if a.Ours {
			e.PutByte(1)
		} else {
			e.PutByte(0)
		}
		e.PutUvarintStr(a.GroupKey)
	}
	return e.Get()
}

func putTime(e *encoding.Encbuf, t time.Time) {
	e.PutVarint64(t.Unix())
	e.PutUvarint(t.Nanosecond())
}

func putMap(e *encoding.Encbuf, m map[string]string) {
	e.PutUvarint(len(m))
	for k, v := range m {
		e.PutUvarintStr(k)
		e.PutUvarintStr(v)
	}
}

// readBatch decodes a batch written by appendBatch, or by an older daemon
// as JSON.
func readBatch(b []byte) ([]webhook.Alert, error) {
	if len(b) == 0 {
		return nil, errors.New("empty batch")
	}
	if b[0] == '[' {
		var alerts []webhook.Alert
		if err := json.Unmarshal(b, &alerts); err != nil {
			return nil, err
		}
		return alerts, nil
	}
	d := encoding.Decbuf{B: b}
	if v := d.Byte(); v != recordV1 {
		return nil, fmt.Errorf("batch record version %d, want %d", v, recordV1)
	}
	n := d.Uvarint64()
	if n > uint64(d.Len()) { // every alert takes bytes
		return nil, fmt.Errorf("batch of %d alerts in %d bytes", n, d.Len())
	}
	alerts := make([]webhook.Alert, n)
	for i := range alerts {
		a := &alerts[i]
		a.Service = readString(&d)
		a.Status = readString(&d)
		a.Fingerprint = readString(&d)
		a.StartsAt = readTime(&d)
		a.EndsAt = readTime(&d)
		a.Labels = readMap(&d)
		a.Annotations = readMap(&d)
		a.GeneratorURL = readString(&d)
		a.Ours = d.Byte() == 1
		a.GroupKey = readString(&d)
		if d.Err() != nil {
			break
		}
	}
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("batch record: %w", err)
	}
	if d.Len() != 0 {
		return nil, fmt.Errorf("batch record: %d bytes left over", d.Len())
	}
	return alerts, nil
}

func readTime(d *encoding.Decbuf) time.Time {
	sec, nsec := d.Varint64(), d.Uvarint64()
	if nsec >= uint64(time.Second) {
		d.E = fmt.Errorf("nanoseconds %d out of range", nsec)
		return time.Time{}
	}
	if t := (time.Time{}); sec == t.Unix() && nsec == 0 {
		return t // zero stays zero
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// readString reads a length-prefixed string; a length past the end is an
// error (Decbuf.UvarintStr panics on a length past int64).
func readString(d *encoding.Decbuf) string {
	n := d.Uvarint64()
	if d.E != nil {
		return ""
	}
	if n > uint64(d.Len()) {
		d.E = fmt.Errorf("string of %d bytes in %d", n, d.Len())
		return ""
	}
	str := string(d.B[:n])
	d.B = d.B[n:]
	return str
}

func readMap(d *encoding.Decbuf) map[string]string {
	n := d.Uvarint64()
	if n > uint64(d.Len())/2 { // every pair takes two bytes at least
		d.E = fmt.Errorf("map of %d pairs in %d bytes", n, d.Len())
		return nil
	}
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := readString(d)
		m[k] = readString(d)
	}
	return m
}
