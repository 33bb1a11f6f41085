// Package audience refuses, before anything is sent, a token issued for the other Microsoft
// API: a Microsoft Graph token handed to an Exchange protocol client (EWS, EAS), or an
// Exchange Online token handed to the graph client. The two are never interchangeable and
// the server's answer to the wrong one (a bare 401) does not say why; this check does.
//
// [Guard] wraps a token source. Each token it hands out is decoded once with
// [mailauth.ParseIdentity] (without verification); an opaque token, or one whose audience
// is neither API (an on-premises Exchange, a test server), passes unchanged.
package audience

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// API names what a client talks to.
type API int

// The two Microsoft APIs whose tokens get mixed up.
const (
	Exchange API = iota + 1 // IMAP, POP, SMTP, EWS, EAS, autodiscover: aud is the Exchange resource
	Graph                   // Microsoft Graph: aud is the Graph endpoint
)

func (a API) String() string {
	if a == Graph {
		return "Microsoft Graph"
	}
	return "Exchange Online"
}

// Error reports a token for the other API. It never contains the token.
type Error struct {
	Want     API               // what the client talks to
	Audience string            // the token's aud that belongs to the other API
	Identity mailauth.Identity // who the token is for
}

// Error says which audience was found, what was expected, and how to ask for the right token.
func (e *Error) Error() string {
	return fmt.Sprintf("the token's audience is %s (%s), not %s, so it was not sent; %s",
		e.Audience, e.other(), e.Want, e.Hint())
}

func (e *Error) other() API {
	if e.Want == Graph {
		return Exchange
	}
	return Graph
}

// Hint says which scope gives a token for the wanted API.
func (e *Error) Hint() string {
	if e.Want == Graph {
		return "ask for a Microsoft Graph token: scope https://graph.microsoft.com/.default (app-only, with the Mail.Read/Mail.ReadWrite/Mail.Send application permissions of Microsoft Graph) or https://graph.microsoft.com/Mail.ReadWrite (delegated); cloud.Cloud.GraphAppOnlyScope and GraphDelegatedScopes name them for each cloud"
	}
	return "ask for an Exchange Online token: scope https://outlook.office365.com/.default (app-only) or https://outlook.office365.com/EWS.AccessAsUser.All (delegated; the protocol's permission); cloud.Cloud.AppOnlyScope and DelegatedScopes name them for each cloud"
}

// Check returns an [*Error] when accessToken is a JWT whose audience belongs to the other API
// than want, and nil otherwise.
func Check(accessToken string, want API) error {
	id := mailauth.ParseIdentity(accessToken)
	for _, a := range id.Audience {
		if (want == Graph && cloud.IsExchangeAudience(a)) || (want == Exchange && cloud.IsGraphAudience(a)) {
			return &Error{Want: want, Audience: strings.TrimSpace(a), Identity: id}
		}
	}
	return nil
}

// Guard returns a token source that hands out src's tokens after [Check]ing them against
// want, and fails with an [*Error] instead of handing out a token for the other API. It
// keeps src's optional methods: TokenContext is always offered (it uses
// [mailauth.TokenContext]); Invalidate only when src has it, so a caller that looks for an
// invalidator sees the same answer as with src. A nil src is returned as nil.
func Guard(src oauth2.TokenSource, want API) oauth2.TokenSource {
	if src == nil {
		return nil
	}
	if g, ok := src.(*guard); ok && g.want == want {
		return src
	}
	if g, ok := src.(*guardInvalidator); ok && g.want == want {
		return src
	}
	g := &guard{src: src, want: want}
	if _, ok := src.(mailauth.Invalidator); ok {
		return &guardInvalidator{g}
	}
	return g
}

type guard struct {
	src  oauth2.TokenSource
	want API
	ok   atomic.Pointer[oauth2.Token] // the last token that passed the check
}

func (g *guard) Token() (*oauth2.Token, error) { return g.TokenContext(context.Background()) }

// TokenContext fetches through mailauth.TokenContext and checks the token once.
func (g *guard) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	tok, err := mailauth.TokenContext(ctx, g.src)
	if err != nil {
		return nil, err
	}
	if last := g.ok.Load(); last == tok || (last != nil && last.AccessToken == tok.AccessToken) {
		return tok, nil
	}
	if err := Check(tok.AccessToken, g.want); err != nil {
		return nil, err
	}
	g.ok.Store(tok)
	return tok, nil
}

func (g *guard) String() string { return "audience.Guard(" + g.want.String() + ")" }

type guardInvalidator struct{ *guard }

// Invalidate passes the refused token on to the wrapped source.
func (g *guardInvalidator) Invalidate(tok *oauth2.Token) {
	g.src.(mailauth.Invalidator).Invalidate(tok)
}

// HostAllowed reports whether a token whose aud claim is aud
// ([mailauth.Identity.Audience]) may be sent to host (host or host:port),
// judging by its audience alone: the rule ews and eas apply when
// their caller did not list the hosts they trust. It allows
//   - a token that is not a JWT, or has no aud (nothing to judge by: aud
//     is empty);
//   - a host an aud URL names ("https://outlook.office365.com" goes to
//     outlook.office365.com and nowhere else);
//   - for Exchange Online's resource id (aud 00000002-0000-0ff1-ce00-…, as
//     some app-only tokens carry) or resource URL, the hosts of the clouds'
//     Exchange endpoints ([cloud.Cloud.Hosts]);
//   - a loopback host (tests, a local proxy).
//
// Otherwise it returns false: an Exchange Online token must not reach
// mail.contoso.com because Autodiscover or a redirect named it.
func HostAllowed(aud []string, host string) bool {
	if len(aud) == 0 || tlsconf.IsLoopback(host) {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, a := range aud {
		a = strings.TrimSpace(a)
		if cloud.IsExchangeAudience(a) {
			for _, c := range cloud.All() {
				for _, h := range c.Hosts() {
					if strings.EqualFold(h, name) {
						return true
					}
				}
			}
		}
		if u, err := url.Parse(a); err == nil && u.Host != "" && strings.EqualFold(strings.TrimSuffix(u.Hostname(), "."), name) {
			return true
		}
	}
	return false
}
