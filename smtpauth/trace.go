package smtpauth

import (
	"io"
	"net"
	"sync"

	"github.com/modernauth/mailauth/internal/core/redact"
)

// tracer writes the protocol trace of Options.DebugWriter: each line the client sends
// prefixed "C: ", each line the server sends "S: ", through the module's redactor. The
// AUTH payloads are masked before they reach it; the redactor masks anything else shaped
// like a token.
type tracer struct {
	mu      sync.Mutex
	w       *redact.Writer
	dir     byte // the direction of the line being written, 0 at a line start
	pending bool // a line is open
}

func newTracer(w io.Writer) *tracer {
	if w == nil {
		return nil
	}
	return &tracer{w: redact.NewWriter(w)}
}

// write traces p, sent by the client (dir 'C') or the server ('S').
func (t *tracer) write(dir byte, p []byte) {
	if t == nil || len(p) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []byte
	if t.pending && t.dir != dir {
		out = append(out, '\n')
		t.pending = false
	}
	for _, b := range p {
		if !t.pending {
			out = append(out, dir, ':', ' ')
			t.pending, t.dir = true, dir
		}
		if b == '\r' {
			continue
		}
		out = append(out, b)
		if b == '\n' {
			t.pending = false
		}
	}
	_, _ = t.w.Write(out)
	if !t.pending {
		_ = t.w.Flush()
	}
}

// tracedConn traces what passes through a plaintext connection before STARTTLS.
type tracedConn struct {
	net.Conn
	t *tracer
}

func (c tracedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.t.write('S', p[:n])
	return n, err
}

func (c tracedConn) Write(p []byte) (int, error) {
	c.t.write('C', p)
	return c.Conn.Write(p)
}

// serverReader reads the session's connection and traces what the server sent.
type serverReader struct{ w *wire }

func (r serverReader) Read(p []byte) (int, error) {
	n, err := r.w.Conn.Read(p)
	r.w.trace.write('S', p[:n])
	return n, err
}
