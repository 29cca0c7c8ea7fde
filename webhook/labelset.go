package webhook

import (
	"fmt"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/prometheus/prometheus/model/labels"
)

// LabelSet is a JSON object of strings read as a Prometheus label set
// (sorted by name); null is the empty set. A name twice is an error, as
// anywhere in the payload.
type LabelSet struct{ labels.Labels }

// builders are the label sets' builders, reused: the pairs' slice of one is
// an allocation a set otherwise.
var builders = sync.Pool{New: func() any { b := labels.NewScratchBuilder(16); return &b }}

// UnmarshalJSONFrom reads the object from dec (JSON v2's UnmarshalerFrom):
// the names and values unquoted into one buffer, made one string, the
// label set built from its pieces: a handful of allocations a set, not two
// a label.
func (s *LabelSet) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch k := dec.PeekKind(); k {
	case 'n':
		s.Labels = labels.EmptyLabels()
		_, err := dec.ReadToken()
		return err
	case '{':
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
	default:
		if _, err := dec.ReadValue(); err != nil {
			return err
		}
		return fmt.Errorf("want an object of strings, not %s", k)
	}
	buf := make([]byte, 0, 256)
	ends := make([]int, 0, 16) // of each name and value in buf
	for dec.PeekKind() != '}' {
		raw, err := dec.ReadValue() // the name
		if err != nil {
			return err
		}
		start := len(buf)
		if buf, err = jsontext.AppendUnquote(buf, raw); err != nil {
			return err
		}
		ends = append(ends, len(buf))
		if k := dec.PeekKind(); k != '"' {
			return fmt.Errorf("value of %q: want a string, not %s", clip(string(buf[start:]), 64), k)
		}
		if raw, err = dec.ReadValue(); err != nil {
			return err
		}
		if buf, err = jsontext.AppendUnquote(buf, raw); err != nil {
			return err
		}
		ends = append(ends, len(buf))
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return err
	}
	all := string(buf)
	b := builders.Get().(*labels.ScratchBuilder)
	b.Reset()
	for i, start := 0, 0; i < len(ends); i += 2 {
		b.Add(all[start:ends[i]], all[ends[i]:ends[i+1]])
		start = ends[i+1]
	}
	b.Sort()
	s.Labels = b.Labels() // a copy: the builder keeps nothing of it
	b.Reset()
	builders.Put(b)
	return nil
}
