package imapauth

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/modernauth/mailauth"
)

// DefaultRenewBefore is how long before the token's expiry [Session] ends a connection
// and dials a new one, when Session.RenewBefore is zero.
const DefaultRenewBefore = 5 * time.Minute

// Session keeps a long-lived IMAP session alive across token expiry: it dials, hands the
// connection to a function, and before the token expires (or when the server says
// "* BYE ... AccessTokenExpired") cancels that function's context, closes the connection,
// and dials again with a fresh token from Options.Token. An IDLE loop written against it
// does not die every hour.
//
// The fields must not change while Run runs. A Session may be reused after Run returns,
// but one Session runs one loop at a time.
type Session struct {
	// Addr is the server address, e.g. "outlook.office365.com:993".
	Addr string
	// Options are passed to Dial or DialStartTLS on every (re)connection.
	Options *Options
	// StartTLS selects DialStartTLS instead of Dial.
	StartTLS bool
	// RenewBefore is how long before the token's expiry to reconnect; zero means
	// DefaultRenewBefore. When the token's remaining lifetime is shorter, the session
	// reconnects halfway through it.
	RenewBefore time.Duration

	connects atomic.Int64
}

// Connects returns how many connections Run has established so far.
func (s *Session) Connects() int64 { return s.connects.Load() }

// Run dials and calls fn with the connection and a context that ends shortly before the
// token expires. When fn returns after that context ended, or with an error matching
// [ErrTokenExpired], Run reconnects and calls fn again. Run returns when fn returns nil
// or another error, when a dial fails, or when ctx ends (then with ctx.Err()). The
// connection is closed before Run returns or reconnects; fn must not keep it.
func (s *Session) Run(ctx context.Context, fn func(ctx context.Context, c *Conn) error) error {
	dial := DialTLS
	if s.StartTLS {
		dial = DialStartTLS
	}
	var prev time.Time
	for {
		c, err := dial(ctx, s.Addr, s.Options)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		s.connects.Add(1)
		fctx, cancel := context.WithCancel(ctx)
		var timer *time.Timer
		exp := c.TokenExpiry()
		at := s.renewAt(exp)
		if !prev.IsZero() && !exp.After(prev) {
			// The source handed out the same token again: renewing on a timer would
			// spin. Drop it from the source so the next dial gets a fresh one, and keep
			// this connection until the server ends it.
			mailauth.Invalidate(s.Options.Token, c.tok)
			at = time.Time{}
		}
		prev = exp
		if !at.IsZero() {
			timer = time.AfterFunc(time.Until(at), cancel)
		}
		// Also end fn's context when the server ends the session.
		go func() {
			select {
			case <-c.Closed():
				cancel()
			case <-fctx.Done():
			}
		}()
		err = fn(fctx, c)
		renew := fctx.Err() != nil
		if timer != nil {
			timer.Stop()
		}
		cancel()
		expired := c.TokenExpired() || errors.Is(err, ErrTokenExpired)
		c.Close()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case expired:
			continue
		case err != nil && !errors.Is(err, context.Canceled):
			return c.Err(err)
		case renew:
			continue
		case err == nil:
			return nil
		default:
			return err
		}
	}
}

func (s *Session) renewAt(exp time.Time) time.Time {
	if exp.IsZero() {
		return time.Time{}
	}
	before := s.RenewBefore
	if before <= 0 {
		before = DefaultRenewBefore
	}
	left := time.Until(exp)
	if left <= before {
		before = left / 2
	}
	return exp.Add(-before)
}

// Idle runs IDLE on c until ctx ends or the server closes the connection, calling nothing
// itself: new-mail notifications arrive through Options.Client.UnilateralDataHandler. It
// returns nil when ctx ended (after ending IDLE with DONE), a [*TokenExpiredError] when
// the server said "* BYE ... AccessTokenExpired", or the connection's error.
func Idle(ctx context.Context, c *Conn) error {
	cmd, err := c.Client.Idle()
	if err != nil {
		return c.Err(err)
	}
	select {
	case <-ctx.Done():
		if err := cmd.Close(); err != nil {
			return c.Err(err)
		}
		return c.Err(cmd.Wait())
	case <-c.Closed():
		err := cmd.Wait()
		if c.TokenExpired() {
			return c.Err(err)
		}
		if err == nil {
			err = errors.New("imapauth: connection closed during IDLE")
		}
		return err
	}
}
