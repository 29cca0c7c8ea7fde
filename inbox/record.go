package inbox

import (
	"encoding/binary"
	"hash/crc32"
	"time"
)

// record layout: length of data (4 bytes), CRC-32C of the rest (4), sequence
// number (8), received time in Unix nanoseconds (8), data; little endian.
const headerBytes = 24

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendRecord(b []byte, seq uint64, received int64, data []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(received))
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+8:], castagnoli))
	return b
}

// Record is one batch as read back.
type Record struct {
	Seq      uint64
	Received time.Time
	Data     []byte
}

// parseRecord reads the record at the start of b; n is 0 when b does not
// start with a whole, intact record.
func parseRecord(b []byte) (rec Record, n int) {
	if len(b) < headerBytes {
		return Record{}, 0
	}
	size := binary.LittleEndian.Uint32(b)
	if size > MaxBatchBytes || int64(len(b)) < headerBytes+int64(size) {
		return Record{}, 0
	}
	end := headerBytes + int(size)
	if crc32.Checksum(b[8:end], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return Record{}, 0
	}
	return Record{
		Seq:      binary.LittleEndian.Uint64(b[8:]),
		Received: time.Unix(0, int64(binary.LittleEndian.Uint64(b[16:]))),
		Data:     b[headerBytes:end],
	}, end
}
