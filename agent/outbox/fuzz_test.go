package outbox

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder, which reads
// whatever a crash or a failing disk left in a segment: it must never panic,
// must classify every input as a record, short or corrupt, and a record it
// accepts must re-encode to exactly the bytes it came from.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, 1, 1e18, 1, []byte("cpu,host=a usage=1 1\n")))
	f.Add(appendRecord(nil, 7, 0, 2, []byte("m f=\"a\nb\" 1\nm f=2i 2\n")))
	f.Add(appendRecord(nil, 3, 5, 0, nil))
	two := appendRecord(appendRecord(nil, 1, 1, 1, []byte("a b=1\n")), 2, 2, 1, []byte("a b=2\n"))
	f.Add(two)
	f.Add(two[:len(two)-3])
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errShort) && !errors.Is(err, errCorrupt) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if n < recordOverhead || n > len(b) {
			t.Fatalf("record length %d outside buffer of %d", n, len(b))
		}
		again := appendRecord(nil, rec.Seq, rec.Appended.UnixNano(), uint32(rec.Points), rec.Data)
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b[:n])
		}
		if bytes.Count(rec.Data, []byte{'\n'}) < rec.Points {
			t.Fatalf("record claims %d points with fewer lines", rec.Points)
		}
	})
}
