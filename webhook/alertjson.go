package webhook

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends to dst the bytes json.Marshal(alerts) returns, byte
// for byte, without reflection: the durable inbox stores every accepted
// batch this way before the webhook answers, and reads it back with
// json.Unmarshal.
func AppendJSON(dst []byte, alerts []Alert) ([]byte, error) {
	if alerts == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	var err error
	for i := range alerts {
		a := &alerts[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"Service":`...)
		dst = appendJSONString(dst, a.Service)
		dst = append(dst, `,"Status":`...)
		dst = appendJSONString(dst, a.Status)
		dst = append(dst, `,"Fingerprint":`...)
		dst = appendJSONString(dst, a.Fingerprint)
		dst = append(dst, `,"StartsAt":`...)
		if dst, err = appendJSONTime(dst, a.StartsAt); err != nil {
			return nil, err
		}
		dst = append(dst, `,"EndsAt":`...)
		if dst, err = appendJSONTime(dst, a.EndsAt); err != nil {
			return nil, err
		}
		dst = append(dst, `,"Labels":`...)
		dst = appendJSONMap(dst, a.Labels)
		dst = append(dst, `,"Annotations":`...)
		dst = appendJSONMap(dst, a.Annotations)
		dst = append(dst, `,"GeneratorURL":`...)
		dst = appendJSONString(dst, a.GeneratorURL)
		dst = append(dst, `,"Ours":`...)
		dst = strconv.AppendBool(dst, a.Ours)
		dst = append(dst, `,"GroupKey":`...)
		dst = appendJSONString(dst, a.GroupKey)
		dst = append(dst, '}')
	}
	return append(dst, ']'), nil
}

// appendJSONTime is time.Time's MarshalJSON, appending.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	dst = append(dst, '"')
	dst, err := t.AppendText(dst)
	if err != nil {
		return nil, err
	}
	return append(dst, '"'), nil
}

// appendJSONMap is encoding/json's encoding of a map[string]string: keys
// sorted, null for a nil map.
func appendJSONMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping,
// json.Marshal's default.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
