package metric

import "testing"

func TestAppendRowMergesTags(t *testing.T) {
	var p Parser
	in := "cpu,cpu=cpu0,host=a\\ b,zone=x usage=1.5,n=3i,u=4u,ok=t,msg=\"say \\\"hi\\\"\" 1700000000000000000\n"
	if err := p.Parse([]byte(in), PrecisionNS, 0); err != nil {
		t.Fatal(err)
	}
	extra := []Tag{{"class", "server"}, {"host", "replaced"}, {"site", "GS Nord, Süd=1"}, {"empty", ""}}
	SortTags(extra)
	out := AppendRow(nil, &p.Rows[0], extra)
	want := "cpu,class=server,cpu=cpu0,host=replaced,site=GS\\ Nord\\,\\ Süd\\=1,zone=x usage=1.5,n=3i,u=4u,ok=t,msg=\"say \\\"hi\\\"\" 1700000000000000000\n"
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	var q Parser
	if err := q.Parse(out, PrecisionNS, 0); err != nil {
		t.Fatalf("AppendRow wrote a line the parser refuses: %v", err)
	}
	if got := string(q.Rows[0].Tags[3].Value); got != "GS Nord, Süd=1" {
		t.Fatalf("site tag after round trip: %q", got)
	}
}
