package mailauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ContextTokenSource is a token source whose fetch can be bounded by a context. Protocol
// packages call TokenContext with the context of the dial or request instead of Token, so
// a caller's deadline or cancel reaches a token request that is waiting on the identity
// provider. tokencache's Source implements it.
type ContextTokenSource interface {
	oauth2.TokenSource
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// Invalidator is a caching token source that can drop a token a server refused.
// Invalidate must compare and drop: it forgets tok only if tok is still the token it would
// hand out, so a token another goroutine already refreshed is kept. Protocol packages call
// it once after a refusal, fetch again and retry once; never more. tokencache's Source
// implements it.
type Invalidator interface {
	Invalidate(tok *oauth2.Token)
}

// ErrNoToken is returned by [TokenContext] when the source is nil or returns a token with
// no usable access token.
var ErrNoToken = errors.New("mailauth: no usable access token")

// TokenContext fetches a token from src: through its TokenContext method when src is a
// [ContextTokenSource] (so ctx bounds the fetch), otherwise through Token after checking
// ctx. A nil source, a nil token, or an access token that is empty or holds white space
// or control characters (it would break the protocol line it is put on) gives an error
// wrapping [ErrNoToken]; the error never contains the token.
func TokenContext(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: no token source configured (set Options.Token)", ErrNoToken)
	}
	var (
		tok *oauth2.Token
		err error
	)
	if cs, ok := src.(ContextTokenSource); ok {
		tok, err = cs.TokenContext(ctx)
	} else {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tok, err = src.Token()
	}
	if err != nil {
		return nil, fmt.Errorf("mailauth: fetching token: %w", err)
	}
	if tok == nil {
		return nil, fmt.Errorf("%w: the token source returned nil", ErrNoToken)
	}
	if why := badAccessToken(tok.AccessToken); why != "" {
		return nil, fmt.Errorf("%w: the access token %s", ErrNoToken, why)
	}
	return tok, nil
}

func badAccessToken(s string) string {
	if s == "" {
		return "is empty"
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "contains white space or control characters"
	}
	return ""
}

// Invalidate tells src that tok was refused, when src is an [Invalidator], and reports
// whether it did: whether fetching again may give a different token and a retry is worth
// it.
func Invalidate(src oauth2.TokenSource, tok *oauth2.Token) bool {
	inv, ok := src.(Invalidator)
	if !ok || tok == nil {
		return false
	}
	inv.Invalidate(tok)
	return true
}

// TokenExpiry returns when tok stops being accepted: the earlier of tok.Expiry and the exp
// claim of its JWT (the server's view, in whole seconds), whichever is known; the zero time
// when neither is. A client's Expiry, computed from expires_in when the response arrived,
// can lie up to a second after exp; servers check exp.
func TokenExpiry(tok *oauth2.Token) time.Time {
	if tok == nil {
		return time.Time{}
	}
	exp := tok.Expiry
	if jwtExp := ParseIdentity(tok.AccessToken).ExpiresAt; !jwtExp.IsZero() && (exp.IsZero() || jwtExp.Before(exp)) {
		exp = jwtExp
	}
	return exp
}

// ClaimsTokenSource is a token source that can acquire a new token carrying the claims a
// resource demanded in a claims challenge (WWW-Authenticate: Bearer
// error="insufficient_claims", claims="..."), as Conditional Access and continuous access
// evaluation send. claims is the decoded JSON claims request. The returned token replaces
// the cached one. Protocol packages call it once per challenge and retry once; a second
// challenge is returned to the caller. tokencache's Source implements it.
type ClaimsTokenSource interface {
	oauth2.TokenSource
	TokenWithClaims(ctx context.Context, claims string) (*oauth2.Token, error)
}
