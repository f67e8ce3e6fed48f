package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/schulmon/schulmon/plugins/sdk"
)

func TestTCPBanner(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 mail.schule.test ESMTP\r\n"))
			c.Close()
		}
	}()
	for expect, want := range map[string]sdk.Status{"220": sdk.StatusOK, "554": sdk.StatusCritical} {
		c := &tcpCheck{}
		if err := c.Configure(context.Background(), "t", []byte(`{"address":"`+ln.Addr().String()+`","expect":"`+expect+`"}`)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res, err := c.Collect(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != want {
			t.Errorf("expect %q: status %v %q", expect, res.Status, res.Message)
		}
		if want == sdk.StatusCritical && !strings.Contains(res.Message, `banner "220 mail.schule.test ESMTP" does not contain "554"`) {
			t.Errorf("message %q", res.Message)
		}
	}
}

func TestTCPConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{}`:                 "address missing",
		`{"address":"host"}`: `address "host": want host:port`,
		`{"address":"h:1","warn_connect":"2s","crit_connect":"1s"}`: "warn_connect is longer",
		`{"adress":"h:1"}`: `unknown field "adress"`,
	} {
		err := (&tcpCheck{}).Configure(context.Background(), "t", []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", cfg, err, want)
		}
	}
}
