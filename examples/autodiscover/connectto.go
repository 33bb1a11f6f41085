package main

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// dialer implements -connect-to: the TLS name stays the URL's host, only
// the TCP destination changes.
func dialer(rules []string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		for _, r := range rules {
			f := splitConnectTo(r)
			if len(f) != 4 {
				return nil, fmt.Errorf("-connect-to %q: want HOST1:PORT1:HOST2:PORT2", r)
			}
			if (f[0] == "" || strings.EqualFold(strings.Trim(f[0], "[]"), host)) && (f[1] == "" || f[1] == port) {
				h2, p2 := strings.Trim(f[2], "[]"), f[3]
				if h2 == "" {
					h2 = host
				}
				if p2 == "" {
					p2 = port
				}
				addr = net.JoinHostPort(h2, p2)
				break
			}
		}
		return d.DialContext(ctx, network, addr)
	}
}

// splitConnectTo splits on colons outside brackets, so IPv6 hosts are
// written as in curl: [::1].
func splitConnectTo(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
