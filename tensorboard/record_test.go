package tensorboard

import (
	"encoding/binary"
	"testing"
)

func TestMaskedCRC(t *testing.T) {
	// CRC-32C of "123456789" is its published check value 0xe3069283;
	// rotated right by 15 bits that is 0x0001c60d|0x25060000 = 0x2507c60d,
	// plus 0xa282ead8 (mod 2^32) is 0xc78ab0e5. The empty string's CRC is 0.
	for _, c := range []struct {
		in   string
		want uint32
	}{{"123456789", 0xc78ab0e5}, {"", 0xa282ead8}} {
		if got := MaskedCRC([]byte(c.in)); got != c.want {
			t.Errorf("MaskedCRC(%q) = %#08x, want %#08x", c.in, got, c.want)
		}
	}
}

func TestAppendRecordFraming(t *testing.T) {
	payload := []byte("brain")
	rec := appendRecord([]byte("x"), payload)[1:]
	if len(rec) != recordOverhead+len(payload) {
		t.Fatalf("record of %d bytes for a %d-byte payload", len(rec), len(payload))
	}
	if n := binary.LittleEndian.Uint64(rec); n != 5 {
		t.Errorf("length %d, want 5", n)
	}
	if got, want := binary.LittleEndian.Uint32(rec[8:]), MaskedCRC(rec[:8]); got != want {
		t.Errorf("length CRC %#x, want %#x", got, want)
	}
	if string(rec[12:17]) != "brain" {
		t.Errorf("payload %q", rec[12:17])
	}
	if got, want := binary.LittleEndian.Uint32(rec[17:]), MaskedCRC(payload); got != want {
		t.Errorf("data CRC %#x, want %#x", got, want)
	}
}
