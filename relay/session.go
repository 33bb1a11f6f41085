package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// preAuthTimeout bounds the time a client may take to log in.
const preAuthTimeout = 5 * time.Minute

// countingWriter adds the bytes written to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (cw countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n.Add(int64(n))
	return n, err
}

// pipe copies bytes both ways between the logged-in client and the upstream until
// either side ends, then closes both.
func (r *Relay) pipe(acc *account, client net.Conn, cbr *bufio.Reader, u *upConn) {
	client.SetDeadline(time.Time{})
	u.c.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(countingWriter{u.c, &acc.bytesIn}, cbr)
		u.c.Close()
		client.Close()
	}()
	io.Copy(countingWriter{client, &acc.bytesOut}, u.br)
	client.Close()
	u.c.Close()
	<-done
}

// startTLS upgrades c as the server.
func (r *Relay) startTLS(ctx context.Context, c net.Conn) (net.Conn, *bufio.Reader, error) {
	tc := tls.Server(c, r.o.ServerTLS)
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, nil, err
	}
	return tc, bufio.NewReaderSize(tc, 4096), nil
}

// canStartTLS reports whether STARTTLS/STLS is offered on c.
func (r *Relay) canStartTLS(c net.Conn) bool {
	_, isTLS := c.(*tls.Conn)
	return r.o.ServerTLS != nil && !isTLS
}

// loginUpstream opens the upstream session for acc, logging the outcome.
func (r *Relay) loginUpstream(ctx context.Context, p Protocol, c net.Conn, acc *account) (*upConn, string, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	u, text, err := r.upstreamLogin(ctx, p, acc)
	if err != nil {
		acc.failures.Add(1)
		r.log.Error("upstream login failed", "proto", p, "client", remoteIP(c).String(), "user", acc.User, "err", err)
		return nil, "", false
	}
	acc.sessions.Add(1)
	r.log.Info("session", "proto", p, "client", remoteIP(c).String(), "user", acc.User, "mailbox", acc.Mailbox)
	return u, text, true
}
