package sqlite

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/collector/store"
	"github.com/schulmon/schulmon/metric"
)

// blobString renders a field blob as line-protocol fields, in stored order.
func blobString(t testing.TB, blob []byte) string {
	t.Helper()
	var parts []string
	err := eachField(blob, func(key []byte, kind metric.Kind, num uint64, str []byte) bool {
		f := metric.RawField{Key: key, Kind: kind, Num: num, Str: str}
		parts = append(parts, string(key)+"="+string(metric.AppendValue(nil, f.Value())))
		return true
	})
	if err != nil {
		t.Fatalf("decode %x: %v", blob, err)
	}
	return strings.Join(parts, ",")
}

// storedFields returns the fields of every stored point, in time order.
func storedFields(t *testing.T, s *Store) []string {
	t.Helper()
	rs, err := s.DB().Query(`SELECT fields FROM points ORDER BY time, series_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var b []byte
		if err := rs.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, blobString(t, b))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOverwriteMergesFieldsAcrossWrites: Telegraf's system input sends
// load, uptime and uptime_format as lines of one series and time; when
// they arrive in separate requests the point must end up with all of
// them, and a field sent again takes the later value.
func TestOverwriteMergesFieldsAcrossWrites(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	for _, body := range []string{
		"system,host=a load1=0.5,n_cpus=4i,n_users=2u 100",
		`system,host=a uptime=1234i,uptime_format=" 0:20" 100`,
		"system,host=a load1=0.75,ok=t 100",
		"system,host=a load1=0.25 110", // another time: a point of its own
	} {
		if err := s.Write(ctx, rows(t, body)); err != nil {
			t.Fatal(err)
		}
	}
	got := storedFields(t, s)
	want := []string{
		`load1=0.75,n_cpus=4i,n_users=2u,uptime=1234i,uptime_format=" 0:20",ok=t`,
		"load1=0.25",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored points\n got %q\nwant %q", got, want)
	}
	// Reads see the merged point.
	res, err := s.Query(ctx, qm("system", "uptime", 0, 200))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Samples) != 1 || res[0].Samples[0].Value != 1234 {
		t.Errorf("uptime after a later write of load1: %+v", res)
	}
}

// TestOverwriteMergesFieldsInOneWrite: the store merges duplicates of
// one Write too (the ingest normally merged them already), also when
// they fall into different INSERT statements of the transaction.
func TestOverwriteMergesFieldsInOneWrite(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	var b strings.Builder
	b.WriteString("cpu v=1,a=1i 100\n")
	b.WriteString("cpu w=\"x\",v=2 100\n") // same statement
	for i := 0; i < insertChunk+20; i++ {
		fmt.Fprintf(&b, "cpu,n=%d v=%d 200\n", i, i)
	}
	b.WriteString("cpu,n=3 z=false 200\n") // a later statement than n=3's first row
	if err := s.Write(context.Background(), rows(t, b.String())); err != nil {
		t.Fatal(err)
	}
	got := storedFields(t, s)
	if len(got) != 1+insertChunk+20 {
		t.Fatalf("%d points, want %d", len(got), 1+insertChunk+20)
	}
	if got[0] != `v=2,a=1i,w="x"` {
		t.Errorf("point written twice in one statement: %s", got[0])
	}
	var n3 string
	for i, f := range got[1:] {
		if strings.HasPrefix(f, "v=3,") || f == "v=3" {
			n3 = got[1+i]
		}
	}
	if n3 != "v=3,z=f" {
		t.Errorf("point written in two statements of one transaction: %q", n3)
	}
}

// qm is q for another measurement.
func qm(measurement, field string, from, to int64) store.Query {
	qq := q(field, from, to, 0)
	qq.Measurement = measurement
	return qq
}

// TestOverwriteInRolledUpBucket: an overwrite below the rollup watermark
// (a replay with other values, or a missing field arriving late) makes
// the bucket be rolled up again.
func TestOverwriteInRolledUpBucket(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := context.Background()
	if err := s.Write(ctx, rows(t, "cpu v=1 0\ncpu v=3 100")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(600, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, rows(t, "cpu v=5 100")); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, rows(t, "cpu w=2 100")); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, time.Unix(600, 0)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		want  float64
	}{{"v", 3}, {"w", 2}} {
		got, err := s.Query(ctx, q(c.field, 0, 300, 5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(got[0].Samples) != 1 || got[0].Samples[0].Value != c.want {
			t.Errorf("rollup of %s after overwrite: %+v, want mean %v", c.field, got, c.want)
		}
	}
}

func TestMergeFieldBlobs(t *testing.T) {
	enc := func(fields string) []byte {
		var p metric.Parser
		if err := p.Parse([]byte("m "+fields), metric.PrecisionNS, 0); err != nil {
			t.Fatal(err)
		}
		return appendFields(nil, p.Rows[0].Fields)
	}
	for _, c := range []struct{ old, nw, want string }{
		{"a=1", "b=2i", "a=1,b=2i"},
		{"a=1,b=2i", "b=3u", "a=1,b=3u"}, // the kind may change too
		{`a=1,s="x",b=t`, `s="yy",c=f`, `a=1,s="yy",b=t,c=f`},
		{"a=1,b=2", "b=3,a=4", "a=4,b=3"}, // stored order kept
	} {
		got, err := mergeFieldBlobs(enc(c.old), enc(c.nw))
		if err != nil {
			t.Fatal(err)
		}
		if s := blobString(t, got); s != c.want {
			t.Errorf("merge %s with %s: %s, want %s", c.old, c.nw, s, c.want)
		}
	}
	// A corrupt stored blob gives way to the new one.
	nw := enc("a=1")
	got, err := mergeFieldBlobs([]byte{3, 1, 'a'}, nw)
	if err != nil || blobString(t, got) != "a=1" {
		t.Errorf("corrupt old blob: %q, %v", got, err)
	}
	if _, err := mergeFieldBlobs(nw, nw[:len(nw)-1]); err == nil {
		t.Error("corrupt new blob not reported")
	}
}

// TestMergeFieldBlobsRandom checks the merge against a plain model on
// random field sets of every kind, including more fields than the
// merge keeps on its stack.
func TestMergeFieldBlobsRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	randFields := func() []metric.RawField {
		var fs []metric.RawField
		for _, k := range rng.Perm(40)[:rng.Intn(25)] {
			f := metric.RawField{Key: []byte(fmt.Sprintf("f%d", k)), Kind: metric.Kind(1 + rng.Intn(5))}
			switch f.Kind {
			case metric.KindString:
				f.Str = []byte(strings.Repeat("x", rng.Intn(200)))
			case metric.KindBool:
				f.Num = uint64(rng.Intn(2))
			default:
				f.Num = rng.Uint64()
			}
			fs = append(fs, f)
		}
		return fs
	}
	for i := 0; i < 2000; i++ {
		a, b := randFields(), randFields()
		// The model: a's fields in order, b's replacing in place, then
		// the rest of b.
		want := append([]metric.RawField(nil), a...)
	next:
		for _, f := range b {
			for j := range want {
				if string(want[j].Key) == string(f.Key) {
					want[j] = f
					continue next
				}
			}
			want = append(want, f)
		}
		got, err := mergeFieldBlobs(appendFields(nil, a), appendFields(nil, b))
		if err != nil {
			t.Fatal(err)
		}
		if g, w := blobString(t, got), blobString(t, appendFields(nil, want)); g != w {
			t.Fatalf("case %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

// FuzzMergeFieldBlobs: arbitrary bytes never panic, and a merge that
// succeeds yields a blob that decodes.
func FuzzMergeFieldBlobs(f *testing.F) {
	f.Add([]byte{1, 1, 'a', byte(metric.KindBool), 1}, []byte{1, 1, 'b', byte(metric.KindInt), 4})
	f.Add([]byte{}, []byte{0})
	f.Add([]byte{1, 1, 'a', byte(metric.KindBool), 1}, []byte{1, 1, 'a', byte(metric.KindString), 2, 'h', 'i'})
	f.Fuzz(func(t *testing.T, old, nw []byte) {
		got, err := mergeFieldBlobs(old, nw)
		if err != nil {
			return
		}
		if err := eachField(got, func([]byte, metric.Kind, uint64, []byte) bool { return true }); err != nil {
			t.Fatalf("merge of %x and %x gave undecodable %x", old, nw, got)
		}
	})
}
