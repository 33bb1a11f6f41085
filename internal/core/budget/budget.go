// Package budget caps how many bytes a server may send before a session is
// authenticated. The protocol packages wrap the raw connection in a [Conn]
// for the greeting, capability, STARTTLS and authentication phases, and
// disarm it once the session is set up, so a hostile or broken server that
// sends one endless line (or endless capability lines) costs a bounded
// amount of memory and the dial fails with [mailauth.ErrLineTooLong].
package budget

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/modernauth/mailauth"
)

// Default is the number of bytes a server may send from connect to the end
// of authentication, TLS records included. Exchange and Dovecot send under
// 16 KiB (certificate chain, greeting, capabilities, challenges).
const Default = 256 << 10

// Conn is a net.Conn whose reads fail once the server has sent more than
// the budget, until Disarm is called.
type Conn struct {
	net.Conn
	disarmed atomic.Bool // read without locking once the session is set up
	mu       sync.Mutex  // guards left, armed, exceeded
	left     int64
	limit    int64
	armed    bool
	exceeded bool
}

// New wraps c with a budget of limit bytes (Default when limit <= 0).
func New(c net.Conn, limit int64) *Conn {
	if limit <= 0 {
		limit = Default
	}
	return &Conn{Conn: c, left: limit, limit: limit, armed: true}
}

// Read reads from the connection within the budget. Once the budget is
// spent it returns an error wrapping [mailauth.ErrLineTooLong].
func (c *Conn) Read(p []byte) (int, error) {
	if c.disarmed.Load() {
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	armed, left := c.armed, c.left
	if armed && left <= 0 {
		c.exceeded = true
		c.mu.Unlock()
		return 0, c.Err()
	}
	c.mu.Unlock()
	if armed && int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	if armed {
		c.mu.Lock()
		c.left -= int64(n)
		c.mu.Unlock()
	}
	return n, err
}

// Disarm lifts the budget: the session is set up and may now carry
// messages of any size.
func (c *Conn) Disarm() {
	c.mu.Lock()
	c.armed = false
	c.mu.Unlock()
	c.disarmed.Store(true)
}

// Exceeded reports whether a read was refused because the budget was spent.
func (c *Conn) Exceeded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exceeded
}

// Err returns the error of a spent budget.
func (c *Conn) Err() error {
	return fmt.Errorf("%w: the server sent more than %d bytes before authentication ended (one endless line or endless capability lines)", mailauth.ErrLineTooLong, c.limit)
}

// Check returns c.Err() wrapped with prefix when the budget was exceeded,
// and err otherwise. A nil c returns err.
func (c *Conn) Check(prefix string, err error) error {
	if err == nil || c == nil || !c.Exceeded() {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, c.Err())
}
