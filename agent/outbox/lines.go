package outbox

import (
	"bytes"
	"errors"
	"math"
	"sync"

	"github.com/schulmon/schulmon/metric"
)

// noTime marks parsed rows that had no timestamp; no real point has it.
const noTime = math.MinInt64 + 1

// AppendLines appends points already encoded as line protocol (one point
// per line, as metric.AppendLine writes them). Every line is checked here,
// so that one malformed line cannot make the collector reject (400) a whole
// batch later: malformed lines are dropped and counted as invalid. Lines
// without a timestamp get the append time.
func (o *Outbox) AppendLines(lines []byte) error {
	if len(bytes.TrimSpace(lines)) == 0 {
		return nil
	}
	o.mu.Lock()
	err := o.appendLines(lines)
	o.mu.Unlock()
	o.fire()
	return err
}

func (o *Outbox) appendLines(lines []byte) error {
	if o.closed {
		return errors.New("append to outbox: outbox is closed")
	}
	now := o.opt.Now()
	nowNs := now.UnixNano()
	b := o.buf[:0]
	seq := o.nextSeq
	var npts, invalid, inRec, start int
	add := func(line []byte, row *metric.Row) {
		if inRec == 0 {
			b, start = beginRecord(b)
		}
		if row.Time == noTime {
			p := row.Point()
			p.Time = now
			b = metric.AppendLine(b, &p)
		} else {
			b = append(b, line...)
			if line[len(line)-1] != '\n' {
				b = append(b, '\n')
			}
		}
		inRec++
		if inRec == o.opt.MaxRecordPoints {
			finishRecord(b, start, seq, nowNs, uint32(inRec))
			seq++
			npts += inRec
			inRec = 0
		}
	}
	rest := lines
	for len(rest) > 0 {
		err := o.parser.Parse(rest, metric.PrecisionNS, noTime)
		good := rest
		var pe *metric.ParseError
		if err != nil {
			if !errors.As(err, &pe) {
				return err
			}
			// Keep the lines before the bad one, skip it, go on after it.
			cut := lineStart(rest, pe.Line)
			good = rest[:cut]
			end := bytes.IndexByte(rest[cut:], '\n')
			if end < 0 {
				end = len(rest) - cut
			} else {
				end++
			}
			rest = rest[cut+end:]
			invalid++
			o.log.Warn("outbox: malformed line dropped", "err", err)
			if err := o.parser.Parse(good, metric.PrecisionNS, noTime); err != nil {
				return err // cannot happen: the prefix parsed before
			}
		} else {
			rest = nil
		}
		// A row spans from the start of its line to the start of the next
		// row's line (quoted strings may contain newlines).
		rowsEnd := len(good)
		for i := len(o.parser.Rows) - 1; i >= 0; i-- {
			from := lineStart(good, o.parser.Rows[i].Line)
			o.lineExt = append(o.lineExt, [2]int{from, rowsEnd})
			rowsEnd = from
		}
		for i := range o.parser.Rows {
			ext := o.lineExt[len(o.lineExt)-1-i]
			add(good[ext[0]:ext[1]], &o.parser.Rows[i])
		}
		o.lineExt = o.lineExt[:0]
	}
	if inRec > 0 {
		finishRecord(b, start, seq, nowNs, uint32(inRec))
		seq++
		npts += inRec
	}
	o.buf = b
	if invalid > 0 {
		o.drop(DropEvent{Reason: ReasonInvalid, Points: invalid})
	}
	return o.write(b, seq, npts)
}

// lineStart returns the offset of the 1-based line n in b.
func lineStart(b []byte, n int) int {
	off := 0
	for l := 1; l < n; l++ {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return len(b)
		}
		off += i + 1
	}
	return off
}

// Queue adapts an Outbox to the agent runtime's queue: line protocol in,
// batches out, Ack removes what the last Next returned.
type Queue struct {
	o *Outbox

	mu   sync.Mutex
	last uint64 // sequence of the last record Next returned
	have bool
}

// NewQueue returns the runtime queue backed by o.
func NewQueue(o *Outbox) *Queue { return &Queue{o: o} }

// Outbox returns the outbox behind the queue.
func (q *Queue) Outbox() *Outbox { return q.o }

// Append adds line-protocol lines; points is informational (the lines are
// counted as they are checked).
func (q *Queue) Append(lines []byte, points int) error { return q.o.AppendLines(lines) }

// Next returns the oldest unacknowledged lines, up to maxPoints points but
// at least one record, and the number of points in them. It returns the
// same again until Ack.
func (q *Queue) Next(maxPoints int) ([]byte, int, error) {
	recs, err := q.o.Peek(maxPoints)
	if err != nil {
		return nil, 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(recs) == 0 {
		q.have = false
		return nil, 0, nil
	}
	if len(recs) == 1 {
		q.last, q.have = recs[0].Seq, true
		return recs[0].Data, recs[0].Points, nil
	}
	size := 0
	for _, r := range recs {
		size += len(r.Data)
	}
	out := make([]byte, 0, size)
	n := 0
	for _, r := range recs {
		out = append(out, r.Data...)
		n += r.Points
	}
	q.last, q.have = recs[len(recs)-1].Seq, true
	return out, n, nil
}

// Ack removes what the last Next returned.
func (q *Queue) Ack() error {
	q.mu.Lock()
	last, have := q.last, q.have
	q.have = false
	q.mu.Unlock()
	if !have {
		return nil
	}
	return q.o.Ack(last)
}

// Pending is the number of points not yet acknowledged.
func (q *Queue) Pending() int { return int(q.o.Stats().PendingPoints) }

// Dropped is the number of points dropped (all reasons) since Open.
func (q *Queue) Dropped() uint64 { return q.o.DroppedPoints("") }
