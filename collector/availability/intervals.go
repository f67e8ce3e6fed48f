package availability

import (
	"sort"
	"time"
)

// Interval is a half-open time range [Start, End) in Unix milliseconds.
// Milliseconds keep every figure an exact integer: a 365-day year is
// 31,536,000,000 ms and 0.02 % of it is exactly 6,307,200 ms.
type Interval struct {
	Start, End int64
}

// Len is the length of the interval in milliseconds (0 if empty).
func (iv Interval) Len() int64 {
	if iv.End <= iv.Start {
		return 0
	}
	return iv.End - iv.Start
}

// Set is a sorted list of disjoint, non-empty intervals.
type Set []Interval

// ms converts a time to Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts Unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// Normalize sorts the intervals and merges overlapping or touching ones.
func Normalize(in []Interval) Set {
	out := make(Set, 0, len(in))
	for _, iv := range in {
		if iv.End > iv.Start {
			out = append(out, iv)
		}
	}
	if len(out) < 2 {
		return out
	}
	sorted := true
	for i := 1; i < len(out); i++ {
		if out[i].Start < out[i-1].Start {
			sorted = false
			break
		}
	}
	if !sorted {
		sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	}
	w := 0
	for _, iv := range out[1:] {
		if iv.Start <= out[w].End {
			if iv.End > out[w].End {
				out[w].End = iv.End
			}
			continue
		}
		w++
		out[w] = iv
	}
	return out[:w+1]
}

// Total is the summed length of the set.
func (s Set) Total() int64 {
	var n int64
	for _, iv := range s {
		n += iv.Len()
	}
	return n
}

// Intersect returns the intersection of two sets (both normalized).
func Intersect(a, b Set) Set {
	if len(b) > 16 && len(a)*8 < len(b) {
		a, b = b, a
	}
	if len(a) > 16 && len(b)*8 < len(a) {
		var out Set
		for _, iv := range b {
			i := sort.Search(len(a), func(i int) bool { return a[i].End > iv.Start })
			for ; i < len(a) && a[i].Start < iv.End; i++ {
				out = append(out, Interval{max(a[i].Start, iv.Start), min(a[i].End, iv.End)})
			}
		}
		return out
	}
	var out Set
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		s := max(a[i].Start, b[j].Start)
		e := min(a[i].End, b[j].End)
		if e > s {
			out = append(out, Interval{s, e})
		}
		if a[i].End < b[j].End {
			i++
		} else {
			j++
		}
	}
	return out
}

// IntersectLen is the length of the intersection without building it.
// A few intervals against a long calendar use binary search, so a yearly
// weekly calendar (260 ranges) costs a few steps per outage, not 260.
func IntersectLen(a, b Set) int64 {
	if len(b) > 16 && len(a)*8 < len(b) {
		a, b = b, a
	}
	if len(a) > 16 && len(b)*8 < len(a) {
		var n int64
		for _, iv := range b {
			i := sort.Search(len(a), func(i int) bool { return a[i].End > iv.Start })
			for ; i < len(a) && a[i].Start < iv.End; i++ {
				n += min(a[i].End, iv.End) - max(a[i].Start, iv.Start)
			}
		}
		return n
	}
	var n int64
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		s := max(a[i].Start, b[j].Start)
		e := min(a[i].End, b[j].End)
		if e > s {
			n += e - s
		}
		if a[i].End < b[j].End {
			i++
		} else {
			j++
		}
	}
	return n
}

// Subtract returns a minus b (both normalized).
func Subtract(a, b Set) Set {
	if len(b) == 0 {
		return a
	}
	var out Set
	j := 0
	for _, iv := range a {
		cur := iv.Start
		for j < len(b) && b[j].End <= cur {
			j++
		}
		k := j
		for k < len(b) && b[k].Start < iv.End {
			if b[k].Start > cur {
				out = append(out, Interval{cur, b[k].Start})
			}
			if b[k].End > cur {
				cur = b[k].End
			}
			k++
		}
		if cur < iv.End {
			out = append(out, Interval{cur, iv.End})
		}
	}
	return out
}

// Union returns the union of two normalized sets.
func Union(a, b Set) Set {
	all := make([]Interval, 0, len(a)+len(b))
	all = append(all, a...)
	all = append(all, b...)
	return Normalize(all)
}

// Clip returns the part of s within [from, to).
func (s Set) Clip(from, to int64) Set {
	return Intersect(s, Set{{from, to}})
}

// normalizeSorted merges overlapping intervals of a list sorted by start,
// in place, and drops empty ones.
func normalizeSorted(in []Interval) Set {
	w := 0
	for _, iv := range in {
		if iv.End <= iv.Start {
			continue
		}
		if w > 0 && iv.Start <= in[w-1].End {
			if iv.End > in[w-1].End {
				in[w-1].End = iv.End
			}
			continue
		}
		in[w] = iv
		w++
	}
	return in[:w]
}
