package runner

// envelope returns the top-level "type" and "subtype" string values of a
// line that is valid JSON, without decoding or allocating: every line is
// looked at, few need more. Values with escapes are returned raw; the CLI's
// event names have none.
func envelope(line []byte) (typ, subtype []byte) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, nil
	}
	i++
	for {
		i = skipSpace(line, i)
		if i >= len(line) || line[i] != '"' {
			return typ, subtype
		}
		keyEnd := skipString(line, i)
		key := line[i+1 : keyEnd-1]
		i = skipSpace(line, keyEnd)
		if i >= len(line) || line[i] != ':' {
			return typ, subtype
		}
		i = skipSpace(line, i+1)
		start := i
		i = skipValue(line, i)
		if i > start+1 && line[start] == '"' {
			switch string(key) {
			case "type":
				typ = line[start+1 : i-1]
			case "subtype":
				subtype = line[start+1 : i-1]
			}
			if typ != nil && subtype != nil {
				return typ, subtype
			}
		}
		i = skipSpace(line, i)
		if i >= len(line) || line[i] != ',' {
			return typ, subtype
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' {
			i++
		}
		return i
	}
}
