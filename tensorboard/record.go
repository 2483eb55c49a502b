package tensorboard

import (
	"encoding/binary"
	"hash/crc32"
)

// castagnoli is the CRC-32C table TFRecord checksums use.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskDelta is the constant TFRecord adds to a rotated CRC.
const maskDelta = 0xa282ead8

// MaskedCRC returns the CRC-32C of b masked as TFRecord stores it: rotated
// right by 15 bits plus 0xa282ead8, so that a CRC of data that itself holds
// CRCs does not degenerate.
func MaskedCRC(b []byte) uint32 {
	crc := crc32.Checksum(b, castagnoli)
	return (crc>>15 | crc<<17) + maskDelta
}

// recordOverhead is the bytes a record adds around its payload: the
// 8-byte length, its 4-byte masked CRC and the payload's 4-byte masked CRC.
const recordOverhead = 8 + 4 + 4

// appendRecord appends payload to b framed as one TFRecord: its length as
// a little-endian uint64, the masked CRC-32C of those 8 bytes, the payload
// and the masked CRC-32C of the payload (all integers little-endian).
func appendRecord(b, payload []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, MaskedCRC(b[start:]))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, MaskedCRC(payload))
}
