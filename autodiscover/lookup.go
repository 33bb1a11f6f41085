package autodiscover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/core/bearer"
)

// lookup is the state of one Lookup call. It is used by one goroutine.
type lookup struct {
	c        *Client
	proto    Protocol
	domain   string          // domain of the address the caller asked for
	hops     int             // redirects followed so far
	seenAddr map[string]bool // lower-case addresses tried
	visited  map[string]bool // "address\x00URL" already requested
	attempts []Attempt
}

// outcome of one candidate chain: a result, a new address to restart
// with, a fatal error, or (all zero) "failed, try the next candidate".
type outcome struct {
	res   *Result
	next  string
	fatal error
}

func (o outcome) done() bool { return o.res != nil || o.next != "" || o.fatal != nil }

func (l *lookup) record(m Method, u, addr string, err error) {
	l.attempts = append(l.attempts, Attempt{Method: m, URL: u, Email: addr, Err: err})
	if log := l.c.log; log != nil {
		outcome := "ok"
		if err != nil {
			outcome = err.Error()
		}
		log.Debug("autodiscover attempt", slog.String("method", string(m)), slog.String("url", u), slog.String("outcome", outcome))
	}
}

// discover runs the candidate list for addr.
func (l *lookup) discover(ctx context.Context, addr string) (*Result, string, error) {
	c := l.c
	_, domain, err := splitEmail(addr)
	if err != nil {
		return nil, "", err
	}
	run := func(o outcome) bool { return o.done() }
	var o outcome

	if c.uses(MethodV2) && c.cloud.AutodiscoverHost != "" {
		u := "https://" + c.cloud.AutodiscoverHost + "/autodiscover/autodiscover.json/v1.0/" +
			url.PathEscape(addr) + "?Protocol=" + url.QueryEscape(l.proto.v2Name())
		if o = l.chain(ctx, addr, MethodV2, u); run(o) {
			return o.res, o.next, o.fatal
		}
	}
	if !c.allowedHost(domain, l.domain) {
		// A redirectAddr led to a domain nobody named: its hosts may
		// not be asked (v2 above only talks to the cloud's host).
		l.record(MethodPOX, domain, addr, &RedirectError{From: "redirectAddr", To: addr, Err: ErrHostNotAllowed})
		return nil, "", ctx.Err()
	}
	for _, host := range []string{domain, "autodiscover." + domain} {
		for _, m := range l.xmlMethods() {
			if err := ctx.Err(); err != nil {
				return nil, "", err
			}
			if o = l.chain(ctx, addr, m, "https://"+host+m.path()); run(o) {
				return o.res, o.next, o.fatal
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if o = l.probe(ctx, addr, domain); run(o) {
		return o.res, o.next, o.fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	o = l.srv(ctx, addr, domain)
	return o.res, o.next, o.fatal
}

// xmlMethods are the configured POX/SOAP methods usable for the protocol.
func (l *lookup) xmlMethods() []Method {
	var out []Method
	for _, m := range l.c.methods {
		if m == MethodPOX || (m == MethodSOAP && l.proto == EWS) {
			out = append(out, m)
		}
	}
	return out
}

func (m Method) path() string {
	if m == MethodSOAP {
		return "/autodiscover/autodiscover.svc"
	}
	return "/autodiscover/autodiscover.xml"
}

// methodFor picks POX or SOAP by the path of an autodiscover URL; ok is
// false when the path is neither.
func (l *lookup) methodFor(u *url.URL) (Method, bool) {
	p := strings.ToLower(u.Path)
	switch {
	case strings.HasSuffix(p, "/autodiscover/autodiscover.xml") && l.c.uses(MethodPOX):
		return MethodPOX, true
	case strings.HasSuffix(p, "/autodiscover/autodiscover.svc") && l.c.uses(MethodSOAP) && l.proto == EWS:
		return MethodSOAP, true
	}
	return "", false
}

// probe sends the unauthenticated GET to http://autodiscover.{domain} and
// follows its redirect if it is to an allowed https autodiscover URL.
func (l *lookup) probe(ctx context.Context, addr, domain string) outcome {
	if len(l.xmlMethods()) == 0 {
		return outcome{}
	}
	u := "http://autodiscover." + domain + "/autodiscover/autodiscover.xml"
	const m = Method("http-redirect")
	rctx, cancel := context.WithTimeout(ctx, l.c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		l.record(m, u, addr, err)
		return outcome{}
	}
	req.Header.Set("User-Agent", l.c.userAgent)
	resp, err := l.c.anon.Do(req)
	if err != nil {
		l.record(m, u, addr, fmt.Errorf("autodiscover: %s: %w", u, unwrapURLError(err)))
		return outcome{}
	}
	drain(resp)
	if !isRedirect(resp.StatusCode) {
		l.record(m, u, addr, &HTTPError{URL: u, StatusCode: resp.StatusCode, Hint: "the http probe expects a redirect to the https autodiscover URL"})
		return outcome{}
	}
	tu, err := resolve(u, resp.Header.Get("Location"))
	if err != nil {
		l.record(m, u, addr, err)
		return outcome{}
	}
	meth, ok := l.methodFor(tu)
	if !ok {
		l.record(m, u, addr, notAutodiscover(u, tu.String()))
		return outcome{}
	}
	if strings.EqualFold(tu.Scheme, "https") && l.visited[visitKey(addr, tu)] {
		return outcome{} // the probe pointed at a candidate already tried
	}
	if o, ok := l.follow(u, tu, addr); !ok {
		return o
	}
	l.record(m, u, addr, nil)
	return l.chain(ctx, addr, meth, tu.String())
}

// srv tries the hosts of the _autodiscover._tcp.{domain} SRV record, in
// the resolver's order (RFC 2782: lowest priority value first).
func (l *lookup) srv(ctx context.Context, addr, domain string) outcome {
	if len(l.xmlMethods()) == 0 {
		return outcome{}
	}
	name := "_autodiscover._tcp." + domain
	_, recs, err := l.c.resolver.LookupSRV(ctx, "autodiscover", "tcp", domain)
	if err != nil {
		l.record("srv", name, addr, fmt.Errorf("autodiscover: SRV lookup of %s: %w", name, err))
		return outcome{}
	}
	for _, r := range recs {
		target := strings.TrimSuffix(strings.ToLower(r.Target), ".")
		if target == "" || !validHostname(target) {
			continue
		}
		if !l.c.allowedHost(target, l.domain) {
			l.record("srv", name, addr, &RedirectError{From: name, To: target, Err: ErrHostNotAllowed})
			continue
		}
		hostport := target
		if r.Port != 443 && r.Port != 0 {
			hostport = net.JoinHostPort(target, strconv.Itoa(int(r.Port)))
		}
		for _, m := range l.xmlMethods() {
			if err := ctx.Err(); err != nil {
				return outcome{fatal: err}
			}
			u := "https://" + hostport + m.path()
			if cb := l.c.checkRedir; cb != nil {
				if err := cb(name, u); err != nil {
					l.record("srv", name, addr, &RedirectError{From: name, To: u, Err: err})
					continue
				}
			}
			if o := l.chain(ctx, addr, m, u); o.done() {
				return o
			}
		}
	}
	return outcome{}
}

// resolve makes loc (possibly relative) absolute against from.
func resolve(from, loc string) (*url.URL, error) {
	base, err := url.Parse(from)
	if err != nil {
		return nil, err
	}
	loc = strings.TrimSpace(loc)
	tu, err := base.Parse(loc)
	if err != nil || loc == "" {
		return nil, fmt.Errorf("autodiscover: %s redirected to an unusable Location %q", from, loc)
	}
	tu.Fragment = ""
	return tu, nil
}

// notAutodiscover is the error for a redirect to a URL that is no
// autodiscover endpoint (a web server sending POSTs to its home page).
func notAutodiscover(from, to string) error {
	return fmt.Errorf("autodiscover: %s redirected to %s, which is not an autodiscover URL for this protocol", from, to)
}

// follow checks a redirect from "from" to tu and counts it. It returns
// ok, or the outcome to return (a fatal one when the redirect budget is
// spent).
func (l *lookup) follow(from string, tu *url.URL, addr string) (outcome, bool) {
	target := tu.String()
	l.hops++
	if l.hops > l.c.maxHops {
		err := &RedirectError{From: from, To: target, Err: ErrTooManyRedirects}
		l.record("redirect", target, addr, err)
		return outcome{fatal: ErrTooManyRedirects}, false
	}
	if rerr := l.checkURL(tu, addr); rerr != nil {
		l.record("redirect", target, addr, &RedirectError{From: from, To: target, Err: rerr})
		return outcome{}, false
	}
	if cb := l.c.checkRedir; cb != nil {
		if err := cb(from, target); err != nil {
			l.record("redirect", target, addr, &RedirectError{From: from, To: target, Err: err})
			return outcome{}, false
		}
	}
	return outcome{}, true
}

// checkURL applies the rules every requested URL obeys: https, an allowed
// host, not requested before for this address.
func (l *lookup) checkURL(u *url.URL, addr string) error {
	if !strings.EqualFold(u.Scheme, "https") {
		return ErrInsecureRedirect
	}
	if u.User != nil || !l.c.allowedHost(u.Hostname(), l.domain) {
		return ErrHostNotAllowed
	}
	if l.visited[visitKey(addr, u)] {
		return ErrRedirectLoop
	}
	return nil
}

// visitKey identifies a request for loop detection: the address and the
// URL with scheme and host lower-cased, without fragment.
func visitKey(addr string, u *url.URL) string {
	return strings.ToLower(addr) + "\x00" + strings.ToLower(u.Scheme+"://"+u.Host) + u.EscapedPath() + "?" + u.RawQuery
}

// chain requests u with method m and follows HTTP redirects and
// redirectUrl answers.
func (l *lookup) chain(ctx context.Context, addr string, m Method, u string) outcome {
	for {
		pu, err := url.Parse(u)
		if err != nil {
			l.record(m, u, addr, err)
			return outcome{}
		}
		if err := l.checkURL(pu, addr); err != nil {
			if errors.Is(err, ErrRedirectLoop) {
				return outcome{} // a candidate already tried in this round
			}
			l.record(m, u, addr, &RedirectError{From: "candidate list", To: u, Err: err})
			return outcome{}
		}
		l.visited[visitKey(addr, pu)] = true

		ans, loc, err := l.exchange(ctx, addr, m, pu)
		if err != nil {
			l.record(m, u, addr, err)
			return outcome{}
		}
		var next string
		switch {
		case loc != "":
			next = loc
		case ans.Err != nil:
			ans.Err.URL = u
			l.record(m, u, addr, ans.Err)
			return outcome{}
		case ans.RedirectURL != "":
			next = ans.RedirectURL
		case ans.RedirectAddr != "":
			return l.redirectAddr(m, u, addr, ans.RedirectAddr)
		default:
			return l.result(m, u, addr, ans)
		}
		tu, err := resolve(u, next)
		if err != nil {
			l.record(m, u, addr, err)
			return outcome{}
		}
		nm := m
		if m != MethodV2 {
			var ok bool
			if nm, ok = l.methodFor(tu); !ok {
				l.record(m, u, addr, notAutodiscover(u, tu.String()))
				return outcome{}
			}
		}
		if o, ok := l.follow(u, tu, addr); !ok {
			return o
		}
		l.record(m, u, addr, nil)
		m, u = nm, tu.String()
	}
}

func (l *lookup) redirectAddr(m Method, u, addr, next string) outcome {
	na, _, err := splitEmail(next)
	if err != nil {
		l.record(m, u, addr, fmt.Errorf("autodiscover: %s redirected to an unusable address: %w", u, err))
		return outcome{}
	}
	if strings.EqualFold(na, addr) {
		// The documented rule: a redirect to the address just sent marks
		// this endpoint as broken; go on with the next candidate.
		l.record(m, u, addr, &RedirectError{From: u, To: na, Err: fmt.Errorf("%w: redirectAddr to the same address", ErrRedirectLoop)})
		return outcome{}
	}
	if l.seenAddr[strings.ToLower(na)] {
		l.record(m, u, addr, &RedirectError{From: u, To: na, Err: ErrRedirectLoop})
		return outcome{fatal: ErrRedirectLoop}
	}
	l.hops++
	if l.hops > l.c.maxHops {
		l.record(m, u, addr, &RedirectError{From: u, To: na, Err: ErrTooManyRedirects})
		return outcome{fatal: ErrTooManyRedirects}
	}
	l.seenAddr[strings.ToLower(na)] = true
	l.record(m, u, addr, nil)
	return outcome{next: na}
}

func (l *lookup) result(m Method, u, addr string, ans answer) outcome {
	ru, err := url.Parse(ans.URL)
	if err == nil && (ru.Host == "" || !ru.IsAbs()) {
		err = errors.New("not an absolute URL")
	}
	if err != nil {
		l.record(m, u, addr, fmt.Errorf("autodiscover: %s returned an unusable %s URL %q: %v", u, l.proto, ans.URL, err))
		return outcome{}
	}
	var rerr error
	switch {
	case !strings.EqualFold(ru.Scheme, "https"):
		rerr = ErrInsecureRedirect
	case ru.User != nil || !l.c.allowedHost(ru.Hostname(), l.domain):
		rerr = ErrHostNotAllowed
	}
	if rerr != nil {
		l.record(m, u, addr, &RedirectError{From: u, To: ans.URL, Err: rerr})
		return outcome{}
	}
	l.record(m, u, addr, nil)
	email := addr
	if ans.Email != "" {
		if a, _, err := splitEmail(ans.Email); err == nil {
			email = a
		}
	}
	return outcome{res: &Result{Email: email, Protocol: l.proto, URL: ru.String(), Method: m, Endpoint: u}}
}

// exchange sends one autodiscover request (anonymous, then with a bearer
// token if the server asks for one and may receive it) and returns the
// parsed answer or the Location of an HTTP redirect.
func (l *lookup) exchange(ctx context.Context, addr string, m Method, u *url.URL) (answer, string, error) {
	c := l.c
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := l.newRequest(rctx, addr, m, u)
	if err != nil {
		return answer{}, "", err
	}
	resp, err := c.anon.Do(req)
	if err != nil {
		return answer{}, "", fmt.Errorf("autodiscover: %s: %w", u, unwrapURLError(err))
	}
	bearerAsked := resp.StatusCode == http.StatusUnauthorized && hasBearer(resp.Header.Values("WWW-Authenticate"))
	if bearerAsked && m != MethodV2 && c.token != nil {
		drain(resp)
		resp, err = l.sendBearer(rctx, addr, m, u)
		if err != nil {
			return answer{}, "", err
		}
	}
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusOK:
	case isRedirect(resp.StatusCode):
		return answer{}, resp.Header.Get("Location"), nil
	default:
		he := &HTTPError{URL: u.String(), StatusCode: resp.StatusCode, Bearer: hasBearer(resp.Header.Values("WWW-Authenticate"))}
		he.Hint = statusHint(resp.StatusCode, he.Bearer, c.token != nil, m)
		return answer{}, "", he
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return answer{}, "", fmt.Errorf("autodiscover: reading the answer of %s: %w", u, err)
	}
	if len(body) > maxBody {
		return answer{}, "", fmt.Errorf("autodiscover: the answer of %s is larger than %d bytes", u, maxBody)
	}
	var ans answer
	switch m {
	case MethodV2:
		ans, err = parseV2(body, l.proto)
	case MethodPOX:
		ans, err = parsePOX(body, l.proto)
	default:
		ans, err = parseSOAP(body)
	}
	if err != nil {
		return answer{}, "", fmt.Errorf("%w (from %s)", err, u)
	}
	return ans, "", nil
}

func (l *lookup) newRequest(ctx context.Context, addr string, m Method, u *url.URL) (*http.Request, error) {
	var (
		req *http.Request
		err error
	)
	switch m {
	case MethodV2:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err == nil {
			req.Header.Set("Accept", "application/json")
		}
	case MethodPOX:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(poxRequest(addr, l.proto)))
		if err == nil {
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		}
	default:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(soapRequest(addr, u.String())))
		if err == nil {
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.Header.Set("SOAPAction", `"`+soapActionGUS+`"`)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("autodiscover: building the request for %s: %w", u, err)
	}
	req.Header.Set("User-Agent", l.c.userAgent)
	return req, nil
}

// sendBearer repeats the request with a bearer token through the shared
// bearer transport, whose allow-list is exactly this request's host. On a
// 401 it invalidates the token (when the source can) and tries once more
// with a fresh one and a fresh body.
func (l *lookup) sendBearer(ctx context.Context, addr string, m Method, u *url.URL) (*http.Response, error) {
	if !l.c.allowedHost(u.Hostname(), "") {
		return nil, &TokenNotAllowedError{URL: u.String(), Host: u.Hostname()}
	}
	for attempt := 0; ; attempt++ {
		// The transport sees a source without Invalidate, so the
		// retry-once decision (and the body) stays here.
		rs := &recordingSource{src: l.c.token}
		bt, err := bearer.New(bearer.Options{
			Token:        rs,
			AllowedHosts: []string{u.Host},
			Base:         l.c.base,
			MaxRetries:   -1,
			Logger:       l.c.log,
		})
		if err != nil {
			return nil, fmt.Errorf("autodiscover: %w", err)
		}
		req, err := l.newRequest(ctx, addr, m, u)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-AnchorMailbox", addr)
		resp, err := bt.RoundTrip(req)
		if err != nil {
			var ce *bearer.ChallengeError
			if errors.As(err, &ce) {
				return nil, &HTTPError{URL: u.String(), StatusCode: ce.StatusCode, Bearer: true,
					Hint: "the server sent a claims challenge (Conditional Access or a revoked session); sign in again to get a new token"}
			}
			var te *bearer.TokenError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("autodiscover: getting a token for %s: %w", u.Host, te.Err)
			}
			return nil, fmt.Errorf("autodiscover: %s with token: %w", u, unwrapURLError(err))
		}
		inv, ok := l.c.token.(interface{ Invalidate(*oauth2.Token) })
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 || !ok || rs.last == nil {
			return resp, nil
		}
		drain(resp)
		inv.Invalidate(rs.last)
	}
}

// recordingSource remembers the token it handed out, for Invalidate.
// It is used by one request at a time.
type recordingSource struct {
	src  oauth2.TokenSource
	last *oauth2.Token
}

func (r *recordingSource) Token() (*oauth2.Token, error) {
	return r.TokenContext(context.Background())
}

func (r *recordingSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	var (
		tok *oauth2.Token
		err error
	)
	if cs, ok := r.src.(interface {
		TokenContext(context.Context) (*oauth2.Token, error)
	}); ok {
		tok, err = cs.TokenContext(ctx)
	} else {
		tok, err = r.src.Token()
	}
	r.last = tok
	return tok, err
}

func statusHint(code int, bearerAsked, haveToken bool, m Method) string {
	switch {
	case code == http.StatusUnauthorized && bearerAsked && !haveToken && m != MethodV2:
		return "the server wants an OAuth bearer token; set Options.Token"
	case code == http.StatusUnauthorized && haveToken && bearerAsked:
		return "the token was refused; check that it is for this server's resource and not expired"
	case code == http.StatusUnauthorized:
		return "the server does not offer bearer authentication here (one 401 does not mean the credentials are wrong; other candidates are tried)"
	case code == http.StatusForbidden:
		return "access denied; the token may lack the permission for this mailbox"
	case code == http.StatusNotFound:
		return "no autodiscover service at this URL"
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return "the server is busy; try again later"
	}
	return ""
}

func hasBearer(values []string) bool { return len(bearer.ParseChallenges(values)) > 0 }

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// unwrapURLError strips *url.Error, whose message repeats the method and
// URL we print ourselves.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
