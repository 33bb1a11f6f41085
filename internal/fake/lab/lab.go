// Package lab boots a complete in-process Exchange-like world on loopback: a fake Entra ID
// (internal/fake/fakeidp) and IMAP, POP3, SMTP, EWS, ActiveSync, Autodiscover and Microsoft
// Graph servers that validate its tokens, all under one test CA. The quickstart, mailcheck's
// tests and the token helper's tests run against it.
package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/autodtest"
	"github.com/modernauth/mailauth/internal/fake/eastest"
	"github.com/modernauth/mailauth/internal/fake/ewstest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// The identities of the lab's tenant.
const (
	Tenant         = "contoso.test"
	AppClientID    = "11111111-2222-3333-4444-555555555555" // confidential app (app-only)
	PublicClientID = "66666666-7777-8888-9999-000000000000" // public app (delegated)
	User           = "alice@contoso.test"
	Other          = "bob@contoso.test"
	Shared         = "shared@contoso.test" // alice has full access
	AutodHost      = "autodiscover-s.contoso.test"
)

// Options shape a Lab.
type Options struct {
	// TokenLifetime of access tokens; zero means one hour.
	TokenLifetime time.Duration
	// IdPLatency is added to every token request.
	IdPLatency time.Duration
	// AppSecret is the confidential app's client secret; empty means a fixed test value.
	AppSecret string
	// IMAP, POP and EWS, EAS tune the servers; nil means defaults.
	IMAP func(*imaptest.Options)
	POP  func(*poptest.Options)
	// AutodHosts are more host names the Autodiscover server answers for, besides AutodHost.
	AutodHosts []autodtest.Host
}

// Lab is a running world. Close stops everything.
type Lab struct {
	CA    *testpki.CA
	IdP   *fakeidp.IdP
	IMAP  *imaptest.Server
	POP   *poptest.Server
	SMTP  *smtptest.Server
	EWS   *ewstest.Server
	EAS   *eastest.Server
	Autod *autodtest.Server
	Graph *graphtest.Server

	// Cloud points the authority at the IdP and the autodiscover host at the lab. Its
	// GraphURL stays https://graph.microsoft.com, the resource Graph tokens are asked for
	// (and the audience Graph checks); the lab's Graph server is at Graph.URL().
	Cloud cloud.Cloud
	// AppSecret is the confidential app's secret.
	AppSecret string

	closers   []func()
	autdHosts map[string]bool // the host names the Autodiscover server answers for
}

// Start boots a Lab.
func Start(opts Options) (_ *Lab, err error) {
	l := &Lab{AppSecret: opts.AppSecret}
	if l.AppSecret == "" {
		l.AppSecret = "lab-app-secret-0123456789"
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.CA, err = testpki.New(); err != nil {
		return nil, err
	}
	l.IdP, err = fakeidp.New(fakeidp.Options{
		TokenLifetime:     opts.TokenLifetime,
		Latency:           opts.IdPLatency,
		DefaultUser:       User,
		AutoApproveDevice: true,
	})
	if err != nil {
		return nil, fmt.Errorf("lab: identity provider: %w", err)
	}
	l.closers = append(l.closers, l.IdP.Close)
	l.IdP.AddApp(fakeidp.App{TenantID: Tenant, ClientID: AppClientID, Secret: l.AppSecret,
		Roles: []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp", "full_access_as_app", "Mail.ReadWrite", "Mail.Send",
			"AuditLog.Read.All", "Reports.Read.All"}})
	l.IdP.AddApp(fakeidp.App{TenantID: Tenant, ClientID: PublicClientID})
	l.IdP.AddUser(fakeidp.User{TenantID: Tenant, UPN: User})
	l.IdP.AddUser(fakeidp.User{TenantID: Tenant, UPN: Other})

	io := imaptest.Options{Verify: l.IdP.Verify, TLSConfig: l.CA.ServerConfig(), Mode: imaptest.StartTLS, ErrorChallenge: true}
	if opts.IMAP != nil {
		opts.IMAP(&io)
	}
	if l.IMAP, err = imaptest.New(io); err != nil {
		return nil, fmt.Errorf("lab: IMAP server: %w", err)
	}
	l.closers = append(l.closers, func() { l.IMAP.Close() })
	l.IMAP.AddMailbox(User)
	l.IMAP.AddMailbox(Other)
	l.IMAP.AddMailbox(Shared, User, AppClientID)
	for i, mb := range []string{User, Shared} {
		for j := 1; j <= 3; j++ {
			msg := fmt.Sprintf("From: carol@contoso.test\r\nTo: %s\r\nSubject: lab message %d.%d\r\nDate: %s\r\nMessage-ID: <lab-%d-%d@contoso.test>\r\n\r\nHello from the lab.\r\n",
				mb, i, j, time.Now().Format(time.RFC1123Z), i, j)
			if err := l.IMAP.Deliver(mb, []byte(msg)); err != nil {
				return nil, err
			}
		}
	}

	po := poptest.Options{
		TLSConfig:      l.CA.ServerConfig(),
		Authorize:      l.authorize(cloud.POP),
		ErrorChallenge: true,
		Mailboxes: map[string][]string{
			User:   {"From: carol@contoso.test\r\nSubject: pop one\r\n\r\nfirst\r\n", "From: carol@contoso.test\r\nSubject: pop two\r\n\r\n.leading dot\r\n"},
			Shared: {"From: dave@contoso.test\r\nSubject: shared pop\r\n\r\nshared\r\n"},
		},
	}
	if opts.POP != nil {
		opts.POP(&po)
	}
	if l.POP, err = poptest.New(po); err != nil {
		return nil, fmt.Errorf("lab: POP3 server: %w", err)
	}
	l.closers = append(l.closers, l.POP.Close)

	if l.SMTP, err = smtptest.New(smtptest.Options{Verify: l.IdP.Verify, TLSConfig: l.CA.ServerConfig(), ErrorChallenge: true}); err != nil {
		return nil, fmt.Errorf("lab: SMTP server: %w", err)
	}
	l.closers = append(l.closers, func() { l.SMTP.Close() })
	l.SMTP.AddMailbox(User)
	l.SMTP.AddMailbox(Other)
	l.SMTP.AddMailbox(Shared, AppClientID)

	if l.EWS, err = ewstest.New(ewstest.Options{Verify: l.IdP.Verify, TLS: l.CA.ServerConfig(), Mailboxes: []string{User, Other, Shared}, Items: 12}); err != nil {
		return nil, fmt.Errorf("lab: EWS server: %w", err)
	}
	l.closers = append(l.closers, l.EWS.Close)

	if l.EAS, err = eastest.New(eastest.Options{Verify: l.IdP.Verify, CA: l.CA, Messages: 30, BodySize: 400}); err != nil {
		return nil, fmt.Errorf("lab: ActiveSync server: %w", err)
	}
	l.closers = append(l.closers, l.EAS.Close)

	any := autodtest.Mailbox{EWSURL: l.EWS.URL(), EASURL: l.EAS.URL()}
	hosts := append([]autodtest.Host{{Name: AutodHost, V2: true, POX: true, SOAP: true, Mailboxes: map[string]autodtest.Mailbox{"*": any}}}, opts.AutodHosts...)
	l.autdHosts = map[string]bool{}
	for _, h := range hosts {
		l.autdHosts[strings.ToLower(h.Name)] = true
	}
	verify := func(tok string) error { _, err := l.IdP.Verify(tok); return err }
	if l.Autod, err = autodtest.New(autodtest.Options{CA: l.CA, Hosts: hosts, Verify: verify}); err != nil {
		return nil, fmt.Errorf("lab: autodiscover server: %w", err)
	}
	l.closers = append(l.closers, l.Autod.Close)

	if l.Graph, err = graphtest.New(graphtest.Options{Verify: l.IdP.Verify, TLS: l.CA.ServerConfig(), Mailboxes: []string{User, Other, Shared}, Items: 12}); err != nil {
		return nil, fmt.Errorf("lab: Graph server: %w", err)
	}
	l.closers = append(l.closers, l.Graph.Close)
	l.Graph.Grant(Shared, User)
	seedBasicAuth(l.Graph, time.Now())

	c := cloud.Global
	c.Name = "lab"
	c.AuthorityHost = l.IdP.URL()
	c.AutodiscoverHost = AutodHost
	c.IMAPHost, c.POPHost, c.SMTPHost = "127.0.0.1", "127.0.0.1", "127.0.0.1"
	c.EWSURL = l.EWS.URL()
	c.EASURL = l.EAS.URL()
	l.Cloud = c
	return l, nil
}

// seedBasicAuth gives the Graph server a sign-in log and an email app usage report with
// clients still on basic authentication, for the basic-auth report: a scanner and a script
// sending with SMTP AUTH and a password, an IMAP client whose password is refused, and a
// printer the usage report alone knows.
func seedBasicAuth(g *graphtest.Server, now time.Time) {
	now = now.UTC().Truncate(time.Second)
	const exo = "Office 365 Exchange Online"
	var log []graphtest.SignIn
	for i := range 6 {
		log = append(log,
			graphtest.SignIn{Time: now.Add(-time.Duration(i*4+1) * time.Hour), User: "scanner@" + Tenant, App: exo, ClientApp: "Authenticated SMTP", IP: "192.0.2.10"},
			graphtest.SignIn{Time: now.Add(-time.Duration(i*24+2) * time.Hour), User: Other, App: exo, ClientApp: "IMAP4", IP: "198.51.100.7",
				ErrorCode: 50126, FailureReason: "Error validating credentials due to invalid username or password."})
	}
	log = append(log,
		graphtest.SignIn{Time: now.Add(-26 * time.Hour), User: User, App: exo, ClientApp: "Authenticated SMTP", IP: "203.0.113.5"},
		graphtest.SignIn{Time: now.Add(-50 * time.Hour), User: User, App: exo, ClientApp: "Authenticated SMTP", IP: "203.0.113.5",
			ErrorCode: 50126, FailureReason: "Error validating credentials due to invalid username or password."},
		graphtest.SignIn{Time: now.Add(-3 * time.Hour), User: User, App: "Microsoft Office", ClientApp: "Mobile Apps and Desktop clients"})
	g.AddSignIns(log...)
	day := func(d int) time.Time { return now.AddDate(0, 0, -d) }
	g.SetEmailAppUsage(
		graphtest.EmailAppUsage{User: "printer@" + Tenant, SMTP: true, LastActivity: day(3)},
		graphtest.EmailAppUsage{User: Other, IMAP4: true, OutlookForWeb: true, LastActivity: day(1)},
		graphtest.EmailAppUsage{User: User, SMTP: true, OutlookForWindows: true, LastActivity: day(1)},
	)
}

// authorize checks a token the way Exchange does for protocol p and mailbox user.
func (l *Lab) authorize(p cloud.Protocol) func(user, token string) error {
	return func(user, token string) error {
		c, err := l.IdP.Verify(token)
		if err != nil {
			return err
		}
		if c.Audience != l.Cloud.Resource && c.Audience != cloud.Global.Resource {
			return errors.New("wrong audience")
		}
		if len(c.Roles) > 0 {
			if !c.HasRole(cloud.AppPermission(p)) {
				return errors.New("missing application permission")
			}
			return nil
		}
		if !c.HasScope(cloud.DelegatedPermission(p)) {
			return errors.New("missing scope")
		}
		who := strings.ToLower(c.UPN)
		if who == "" {
			who = strings.ToLower(c.PreferredUsername)
		}
		u := strings.ToLower(user)
		if u != who && !(u == Shared && who == User) {
			return errors.New("no access to mailbox")
		}
		return nil
	}
}

// Close stops every server.
func (l *Lab) Close() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
	l.closers = nil
}

// RootCAs trusts the lab CA and the IdP's certificate.
func (l *Lab) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(l.CAPEM())
	return p
}

// CAPEM returns every certificate a client must trust: the lab CA and the IdP's.
func (l *Lab) CAPEM() []byte {
	b := l.CA.CertPEM()
	return append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.IdP.Certificate().Raw})...)
}

// WriteCAFile writes CAPEM to dir/ca.pem and returns the path.
func (l *Lab) WriteCAFile(dir string) (string, error) {
	p := filepath.Join(dir, "lab-ca.pem")
	return p, os.WriteFile(p, l.CAPEM(), 0o644)
}

// TLSConfig trusts the lab.
func (l *Lab) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: l.RootCAs()}
}

// HTTPClient trusts the lab and reaches the autodiscover host names through the lab's
// dialer.
func (l *Lab) HTTPClient() *http.Client {
	tr := &http.Transport{TLSClientConfig: l.TLSConfig(), DialContext: l.DialContext, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// DialContext maps the Autodiscover host names (AutodHost, Options.AutodHosts and any
// name under contoso.test) to their loopback listeners and dials loopback addresses and
// localhost directly. Any other address fails without leaving the machine.
func (l *Lab) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	h := strings.ToLower(host)
	if l.autdHosts[h] || strings.HasSuffix(h, ".contoso.test") {
		return l.Autod.DialContext(ctx, network, addr)
	}
	if ip := net.ParseIP(h); (ip == nil || !ip.IsLoopback()) && h != "localhost" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("lab: %s is not a lab host", addr)}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
