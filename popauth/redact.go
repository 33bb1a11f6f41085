package popauth

import (
	"fmt"
	"log/slog"
)

// String describes the options without the token source, which may hold a
// token.
func (o Options) String() string {
	return fmt.Sprintf("popauth.Options{Mailbox:%q Mechanism:%q Token:%s TLSConfig:%t Dialer:%t InsecureAllowPlaintext:%t Logger:%t}",
		o.Mailbox, o.mechanism(), presence(o.Token != nil), o.TLSConfig != nil, o.Dialer != nil, o.InsecureAllowPlaintext, o.Logger != nil)
}

// GoString is String, so %#v does not print the token source either.
func (o Options) GoString() string { return o.String() }

// Format makes every fmt verb print String.
func (o Options) Format(f fmt.State, _ rune) { fmt.Fprint(f, o.String()) }

// LogValue implements slog.LogValuer with the redacted form.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

func presence(set bool) string {
	if set {
		return "set(redacted)"
	}
	return "nil"
}

// String describes the session: server, TLS and user, never a token.
func (c *Client) String() string {
	if c == nil {
		return "popauth.Client(nil)"
	}
	state := "open"
	if c.broken {
		state = "closed or broken"
	}
	return fmt.Sprintf("popauth.Client{server:%s tls:%t user:%q %s}", c.conn.RemoteAddr(), c.secure, c.opts.Mailbox, state)
}

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// Format makes every fmt verb print String.
func (c *Client) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue implements slog.LogValuer with String.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }
