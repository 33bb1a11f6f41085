// Package tlsconf holds the module's transport-security rules, written once: the client
// TLS configuration every dialer uses, and the check that confines the Insecure options
// to loopback addresses.
package tlsconf

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/modernauth/mailauth"
)

// Client returns the TLS configuration to dial host with: a clone of base (never base
// itself), or a new config when base is nil; at least TLS 1.2 unless base sets a minimum;
// ServerName set to host when empty (and verification is on); NextProtos set when given
// and base has none.
func Client(base *tls.Config, host string, nextProtos ...string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	if c.ServerName == "" && !c.InsecureSkipVerify {
		c.ServerName = host
	}
	if c.NextProtos == nil && len(nextProtos) > 0 {
		c.NextProtos = append([]string(nil), nextProtos...)
	}
	return c
}

// IsLoopback reports whether hostport (a host, or host:port, an IP literal or a name) names
// this machine only: 127.0.0.0/8, ::1, or "localhost" (and names under .localhost).
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// CheckInsecure is called when an Insecure option (InsecureAllowPlaintext,
// InsecureAllowHTTP) is about to let a token travel unprotected to hostport. It returns
// nil for a loopback address and otherwise an error wrapping [mailauth.ErrInsecure]
// naming the option and the address.
func CheckInsecure(option, hostport string) error {
	if IsLoopback(hostport) {
		return nil
	}
	return fmt.Errorf("%w: %s applies only to loopback addresses (127.0.0.0/8, ::1, localhost), not %s", mailauth.ErrInsecure, option, hostport)
}
