package remediator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/encoding"

	"github.com/claude-ops/claude-ops/webhook"
)

// An inbox batch is the alerts one webhook request queued, in a binary
// record as Prometheus writes its WAL records (tsdb/encoding): a version
// byte, then the alerts, each as length-prefixed strings and varints; a
// label set as its number of pairs and the pairs (written sorted by name;
// older daemons wrote them in map order, and reading sorts them).
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
		putLabels(&e, a.Labels)
		putLabels(&e, a.Annotations)
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
		a.Labels = readLabels(&d)
		a.Annotations = readLabels(&d)
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

// An incident's alerts are saved beside its document in a log of chunks
// that are only ever appended (store.Incident.Log): each save appends one
// chunk with the alerts that came or changed since the last one, each
// alert with its place in the incident; reading the chunks in order
// rebuilds the alerts, a later entry replacing an earlier one. A chunk is a
// record of the same kind as a batch: a version byte, the number of
// entries, the entries. A storm saves every alert once; as JSON, encoding
// and checking it cost more than the request that brought it.

const alertLogV1 = 1

// appendAlertLog appends the chunk holding alerts[i] for each i in which.
func appendAlertLog(b []byte, alerts []*Alert, which []int) []byte {
	e := encoding.Encbuf{B: b}
	e.PutByte(alertLogV1)
	e.PutUvarint(len(which))
	for _, i := range which {
		a := alerts[i]
		e.PutUvarint(i)
		e.PutUvarintStr(a.Fingerprint)
		e.PutUvarintStr(a.Status)
		putLabels(&e, a.Labels)
		putLabels(&e, a.Annotations)
		putTime(&e, a.StartsAt)
		putTime(&e, a.EndsAt)
		e.PutUvarintStr(a.GeneratorURL)
		e.PutUvarintStr(a.RunbookURL)
	}
	return e.Get()
}

func putLabels(e *encoding.Encbuf, ls labels.Labels) {
	e.PutUvarint(ls.Len())
	ls.Range(func(l labels.Label) {
		e.PutUvarintStr(l.Name)
		e.PutUvarintStr(l.Value)
	})
}

// readAlertLog rebuilds the alerts from the chunks of a log, in order; it
// also returns the number of entries read.
func readAlertLog(chunks [][]byte) (alerts []*Alert, entries int, err error) {
	for c, b := range chunks {
		es, err := readAlertChunk(b)
		if err != nil {
			return nil, 0, fmt.Errorf("alert log chunk %d: %w", c, err)
		}
		for _, e := range es {
			switch {
			case e.index == len(alerts):
				alerts = append(alerts, e.alert)
			case e.index < len(alerts):
				alerts[e.index] = e.alert
			default:
				return nil, 0, fmt.Errorf("alert log chunk %d: alert %d of %d", c, e.index, len(alerts))
			}
		}
		entries += len(es)
	}
	return alerts, entries, nil
}

// alertEntry is an entry of an alert log chunk: the alert at index.
type alertEntry struct {
	index int
	alert *Alert
}

// readAlertChunk decodes a chunk written by appendAlertLog.
func readAlertChunk(b []byte) ([]alertEntry, error) {
	d := encoding.Decbuf{B: b}
	if v := d.Byte(); d.Err() == nil && v != alertLogV1 {
		return nil, fmt.Errorf("version %d, want %d", v, alertLogV1)
	}
	n := d.Uvarint64()
	if n > uint64(d.Len()) { // every entry takes bytes
		return nil, fmt.Errorf("%d entries in %d bytes", n, d.Len())
	}
	out := make([]alertEntry, 0, n)
	for range n {
		i := d.Uvarint64()
		if d.Err() == nil && i > math.MaxInt32 {
			return nil, fmt.Errorf("alert index %d", i)
		}
		a := &Alert{}
		a.Fingerprint = readString(&d)
		a.Status = readString(&d)
		a.Labels = readLabels(&d)
		a.Annotations = readLabels(&d)
		a.StartsAt = readTime(&d)
		a.EndsAt = readTime(&d)
		a.GeneratorURL = readString(&d)
		a.RunbookURL = readString(&d)
		if d.Err() != nil {
			break
		}
		out = append(out, alertEntry{int(i), a})
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	if d.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left over", d.Len())
	}
	return out, nil
}

func readLabels(d *encoding.Decbuf) labels.Labels {
	n := d.Uvarint64()
	if n > uint64(d.Len())/2 { // every pair takes two bytes at least
		d.E = fmt.Errorf("%d labels in %d bytes", n, d.Len())
		return labels.EmptyLabels()
	}
	b := labels.NewScratchBuilder(int(n))
	for range n {
		name := readString(d)
		b.Add(name, readString(d))
	}
	b.Sort() // written sorted; a damaged record must not make an unsorted set
	return b.Labels()
}
