package snmpsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gosnmp/gosnmp"
)

// Server is a UDP SNMP v1/v2c agent serving simulated devices. Each
// community names one device, so one socket can stand in for thousands of
// devices.
type Server struct {
	// Lookup returns the device answering to a community, or nil: then the
	// request is dropped, as a real agent does for a wrong community.
	Lookup func(community string) *Device
	// MaxVarbinds caps the varbinds of one GETBULK response (default 100),
	// as real agents do to keep responses within their message size.
	MaxVarbinds int

	conn     *net.UDPConn
	wg       sync.WaitGroup
	Requests atomic.Int64 // requests answered
	Varbinds atomic.Int64 // varbinds sent
}

// Listen binds addr (e.g. "127.0.0.1:0") and starts serving in the
// background until ctx ends or Close is called.
func (s *Server) Listen(ctx context.Context, addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("resolve simulator address %q: %w", addr, err)
	}
	s.conn, err = net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("listen simulator on %q: %w", addr, err)
	}
	_ = s.conn.SetReadBuffer(8 << 20)
	_ = s.conn.SetWriteBuffer(8 << 20)
	if s.MaxVarbinds <= 0 {
		s.MaxVarbinds = 100
	}
	workers := runtime.GOMAXPROCS(0)
	for range workers {
		s.wg.Add(1)
		go s.serve()
	}
	go func() {
		<-ctx.Done()
		s.conn.Close()
	}()
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Close stops the server and waits for its workers.
func (s *Server) Close() {
	s.conn.Close()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		resp, err := s.handle(dec, buf[:n])
		if err != nil {
			slog.Debug("snmpsim: dropping request", "from", from, "err", err)
			continue
		}
		if resp != nil {
			_, _ = s.conn.WriteToUDP(resp, from)
		}
	}
}

func (s *Server) handle(dec *gosnmp.GoSNMP, msg []byte) ([]byte, error) {
	req, err := dec.SnmpDecodePacket(msg)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if req.Version == gosnmp.Version3 {
		return nil, errors.New("SNMPv3 is not simulated")
	}
	d := s.Lookup(req.Community)
	if d == nil {
		return nil, nil
	}
	out := &gosnmp.SnmpPacket{
		Version:   req.Version,
		Community: req.Community,
		PDUType:   gosnmp.GetResponse,
		RequestID: req.RequestID,
	}
	switch req.PDUType {
	case gosnmp.GetRequest:
		for i, v := range req.Variables {
			p := d.Get(v.Name)
			if req.Version == gosnmp.Version1 && p.Type == gosnmp.NoSuchInstance {
				out.Error, out.ErrorIndex = gosnmp.NoSuchName, uint8(i+1)
				p = v
			}
			out.Variables = append(out.Variables, p)
		}
	case gosnmp.GetNextRequest:
		for i, v := range req.Variables {
			p := d.Next(v.Name)
			if req.Version == gosnmp.Version1 && p.Type == gosnmp.EndOfMibView {
				out.Error, out.ErrorIndex = gosnmp.NoSuchName, uint8(i+1)
				p = v
			}
			out.Variables = append(out.Variables, p)
		}
	case gosnmp.GetBulkRequest:
		out.Variables = d.Bulk(names(req.Variables), int(req.NonRepeaters), int(req.MaxRepetitions), s.MaxVarbinds)
	default:
		return nil, fmt.Errorf("unsupported PDU type %v", req.PDUType)
	}
	b, err := out.MarshalMsg()
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	s.Requests.Add(1)
	s.Varbinds.Add(int64(len(out.Variables)))
	return b, nil
}

func names(v []gosnmp.SnmpPDU) []string {
	out := make([]string, len(v))
	for i := range v {
		out[i] = v[i].Name
	}
	return out
}
