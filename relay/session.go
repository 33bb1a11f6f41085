package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// preAuthTimeout bounds the time a client may take to log in.
const preAuthTimeout = 5 * time.Minute

// pipe copies bytes both ways between the logged-in client and the upstream until
// either side ends, then closes both.
func (r *Relay) pipe(acc *account, client net.Conn, cbr *bufio.Reader, u *upConn) {
	client.SetDeadline(time.Time{})
	u.c.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		relayCopy(u.c, client, cbr, &acc.bytesIn)
		u.c.Close()
		client.Close()
	}()
	relayCopy(client, u.c, u.br, &acc.bytesOut)
	client.Close()
	u.c.Close()
	<-done
}

// smallBuf is what an idle direction holds; a direction whose reads fill it borrows a
// bigBuf from the pool until the burst ends, so idle sessions stay small and large
// FETCHes and APPENDs move in large writes.
const (
	smallBuf = 1024
	bigBuf   = 64 << 10
)

var bigBufs = sync.Pool{New: func() any { b := make([]byte, bigBuf); return &b }}

// relayCopy copies what br has buffered, then src, to dst, counting into n.
func relayCopy(dst io.Writer, src io.Reader, br *bufio.Reader, n *atomic.Int64) {
	if k := br.Buffered(); k > 0 {
		b, _ := br.Peek(k)
		w, err := dst.Write(b)
		n.Add(int64(w))
		if err != nil {
			return
		}
	}
	small := make([]byte, smallBuf)
	buf := small
	var big *[]byte
	defer func() {
		if big != nil {
			bigBufs.Put(big)
		}
	}()
	for {
		k, err := src.Read(buf)
		if k > 0 {
			w, werr := dst.Write(buf[:k])
			n.Add(int64(w))
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
		switch {
		case big == nil && k == len(buf):
			big = bigBufs.Get().(*[]byte)
			buf = *big
		case big != nil && k < smallBuf:
			bigBufs.Put(big)
			big, buf = nil, small
		}
	}
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

// loginUpstream opens the upstream session for acc, logging the outcome. A failure is
// counted and logged with its cause (see upstreamRefusal) and the typed error, which
// never holds a token.
func (r *Relay) loginUpstream(ctx context.Context, p Protocol, c net.Conn, acc *account, tr *tracer) (*upConn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	u, text, err := r.upstreamLogin(ctx, p, acc, tr.upstream())
	if err != nil {
		acc.failures.Add(1)
		r.log.Error("upstream login failed", "proto", p, "client", remoteIP(c).String(), "user", acc.User,
			"mailbox", acc.Mailbox, "refused", upstreamRefusal(err), "err", err)
		return nil, "", err
	}
	acc.sessions.Add(1)
	r.log.Info("session", "proto", p, "client", remoteIP(c).String(), "user", acc.User, "mailbox", acc.Mailbox)
	return u, text, nil
}
