package discovery

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxSubnetAddrs bounds one subnet so that a typo such as /8 cannot turn
// the agent into a network scanner.
const MaxSubnetAddrs = 1 << 16

// ParseSubnets parses CIDR prefixes and refuses oversized ones.
func ParseSubnets(subnets []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(subnets))
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, err2 := netip.ParseAddr(s); err2 == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, fmt.Errorf("subnet %q is not CIDR notation like 10.20.1.0/24: %w", s, err)
			}
		}
		p = p.Masked()
		if hostBits := p.Addr().BitLen() - p.Bits(); hostBits > 16 {
			return nil, fmt.Errorf("subnet %q has more than %d addresses; split it into /16 or smaller", s, MaxSubnetAddrs)
		}
		out = append(out, p)
	}
	return out, nil
}

// Addrs lists the host addresses of a prefix: for IPv4 prefixes shorter
// than /31 without the network and broadcast address.
func Addrs(p netip.Prefix) []netip.Addr {
	var out []netip.Addr
	a := p.Addr()
	for ; p.Contains(a); a = a.Next() {
		out = append(out, a)
		if !a.Next().IsValid() {
			break
		}
	}
	if a4 := p.Addr().Is4(); a4 && p.Bits() < 31 && len(out) >= 2 {
		out = out[1 : len(out)-1]
	}
	return out
}

// Scan calls probe for every host address of the prefixes, starting at
// most ratePerSec probes per second and running at most workers at once
// (a probe waits for its timeout when nothing answers). It returns when
// all probes finished or ctx ends.
func Scan(ctx context.Context, prefixes []netip.Prefix, ratePerSec float64, workers int, probe func(ctx context.Context, a netip.Addr)) error {
	if ratePerSec <= 0 {
		return fmt.Errorf("scan rate must be positive, got %v", ratePerSec)
	}
	if workers <= 0 {
		workers = 16
	}
	lim := rate.NewLimiter(rate.Limit(ratePerSec), 1)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, p := range prefixes {
		for _, a := range Addrs(p) {
			if err := lim.Wait(ctx); err != nil {
				return fmt.Errorf("scan %s: %w", p, err)
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			wg.Add(1)
			go func(a netip.Addr) {
				defer wg.Done()
				defer func() { <-sem }()
				probe(ctx, a)
			}(a)
		}
	}
	return nil
}

// Every runs scan now and then every interval until ctx ends.
func Every(ctx context.Context, interval time.Duration, scan func(ctx context.Context)) {
	for {
		scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
