// Package mailauthtest runs a test lab on loopback for programs that use mailauth: a fake
// Entra ID and IMAP, POP3, SMTP, EWS, ActiveSync, Autodiscover and Microsoft Graph servers
// that accept only the fake Entra ID's tokens, all under one test CA. Point a program at the
// lab and test it end to end without a tenant and without the network.
//
// Start a lab in a test with [New], which stops it when the test ends, or anywhere with
// [Start] and [Lab.Close]. The lab has one tenant, [Tenant], with a confidential app
// ([ClientID], secret [Lab.ClientSecret]) holding the application permissions of every
// protocol, a public app ([PublicClientID]) for delegated sign-in, the users [User] and
// [OtherUser], and the shared mailbox [SharedMailbox] that User has full access to. The app
// may open SharedMailbox over every protocol but ActiveSync (which has no app-only access),
// and every mailbox over POP3, EWS and Graph.
//
// What a program needs:
//
//   - identity: [Lab.Cloud] (a cloud.Cloud whose AuthorityHost is the fake Entra ID),
//     [Lab.AuthorityHost], [Tenant], [ClientID], [Lab.ClientSecret], or ready
//     [Lab.AppOnlyConfig] and [Lab.DelegatedConfig] for package tokencache;
//   - trust: [Lab.CAPEM], [Lab.CertPool], [Lab.TLSConfig], [Lab.HTTPClient];
//   - servers: [Lab.IMAPAddr], [Lab.POPAddr], [Lab.SMTPAddr], [Lab.EWSURL], [Lab.EASURL],
//     [Lab.GraphURL], and for Autodiscover [Lab.DialContext] and [Lab.LookupSRV].
//
// What the servers saw: [Lab.Sent] lists the messages submitted over SMTP, EWS, ActiveSync
// and Graph, [Lab.TokenRequests] counts token requests. [Lab.Deliver] puts a message in a
// mailbox, and the Fail* methods make a server refuse the way Exchange Online does.
//
// Outside Go tests, `go run ./examples/quickstart -serve` keeps a lab running and prints its
// settings as flags and environment variables for another process.
package mailauthtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/autodtest"
	"github.com/modernauth/mailauth/internal/fake/eastest"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
	"github.com/modernauth/mailauth/internal/fake/lab"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/tokencache"
)

// The identities of the lab's tenant. They are the same in every lab.
const (
	// Tenant is the lab's tenant (directory) name.
	Tenant = "contoso.test"
	// ClientID is the confidential app for app-only access (client credentials). Its
	// secret is [Lab.ClientSecret].
	ClientID = "11111111-2222-3333-4444-555555555555"
	// PublicClientID is the public app for delegated sign-in (device code, browser).
	PublicClientID = "66666666-7777-8888-9999-000000000000"
	// User is a user with a mailbox; the device code flow signs User in at once.
	User = "alice@contoso.test"
	// OtherUser is a second user with a mailbox.
	OtherUser = "bob@contoso.test"
	// SharedMailbox is a shared mailbox: User has full access, and so has the app.
	SharedMailbox = "shared@contoso.test"
)

// Options shape a [Lab]. A nil *Options is the same as a zero Options.
type Options struct {
	// ClientSecret is the secret of the app [ClientID]; empty means a fixed test value.
	ClientSecret string
	// TokenLifetime is the lifetime of access tokens; zero means one hour.
	TokenLifetime time.Duration
	// TokenLatency delays the answer to every token request (a slow Entra ID).
	TokenLatency time.Duration
	// Autodiscover adds host names the lab's Autodiscover service answers for, besides the
	// AutodiscoverHost of [Lab.Cloud]. They are reached through [Lab.DialContext].
	Autodiscover []AutodiscoverHost
}

// AutodiscoverHost is one more host name for the lab's Autodiscover service, such as a
// domain's autodiscover.example.com.
type AutodiscoverHost struct {
	// Name is the host name, such as "autodiscover.contoso.com".
	Name string
	// V2 answers Autodiscover v2 (JSON), POX answers /autodiscover/autodiscover.xml and
	// SOAP answers /autodiscover/autodiscover.svc.
	V2, POX, SOAP bool
	// RequireBearer makes POX and SOAP answer 401 with "WWW-Authenticate: Bearer" unless
	// the request carries a token of the lab's Entra ID.
	RequireBearer bool
	// Mailboxes maps an address, or "*" for any other, to its answer.
	Mailboxes map[string]AutodiscoverAnswer
}

// AutodiscoverAnswer is how an [AutodiscoverHost] answers for one address: with settings
// (EWSURL, EASURL), a redirect (RedirectAddr, RedirectURL) or an error code (ErrorCode,
// such as "500" for POX or "InvalidUser" for SOAP).
type AutodiscoverAnswer struct {
	EWSURL, EASURL            string
	RedirectAddr, RedirectURL string
	ErrorCode                 string
}

// Lab is a running lab. Its methods are safe for concurrent use. Close stops it.
type Lab struct {
	l *lab.Lab
}

// Start starts a lab on loopback ports. ctx bounds the start only; the lab runs until
// Close.
func Start(ctx context.Context, opts *Options) (*Lab, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lo := lab.Options{TokenLifetime: opts.TokenLifetime, IdPLatency: opts.TokenLatency, AppSecret: opts.ClientSecret}
	for _, h := range opts.Autodiscover {
		mb := map[string]autodtest.Mailbox{}
		for k, v := range h.Mailboxes {
			mb[k] = autodtest.Mailbox{EWSURL: v.EWSURL, EASURL: v.EASURL, RedirectAddr: v.RedirectAddr, RedirectURL: v.RedirectURL, ErrorCode: v.ErrorCode}
		}
		lo.AutodHosts = append(lo.AutodHosts, autodtest.Host{Name: h.Name, V2: h.V2, POX: h.POX, SOAP: h.SOAP, RequireBearer: h.RequireBearer, Mailboxes: mb})
	}
	l, err := lab.Start(lo)
	if err != nil {
		return nil, fmt.Errorf("mailauthtest: %w", err)
	}
	if err := ctx.Err(); err != nil {
		l.Close()
		return nil, err
	}
	return &Lab{l: l}, nil
}

// TB is the part of testing.TB that [New] uses; *testing.T, *testing.B and *testing.F
// have it. (The package does not import testing, so programs such as the quickstart can
// use it without linking it.)
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
	Context() context.Context
}

// New starts a lab for the test tb and stops it when the test and its subtests end
// (tb.Cleanup). It ends the test with tb.Fatal if the lab does not start.
func New(tb TB, opts *Options) *Lab {
	tb.Helper()
	l, err := Start(tb.Context(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Close)
	return l
}

// Close stops every server of the lab. It may be called more than once.
func (l *Lab) Close() { l.l.Close() }

// Cloud returns a cloud.Cloud for the lab: its AuthorityHost is the fake Entra ID, its
// IMAP, POP3 and SMTP hosts are 127.0.0.1, its EWSURL and EASURL are the lab's servers and
// its AutodiscoverHost is a name under contoso.test that [Lab.DialContext] reaches. Resource and GraphURL keep the values of
// cloud.Global: they name the resources tokens are asked for, which the lab's servers
// check; the lab's Graph server is at [Lab.GraphURL].
func (l *Lab) Cloud() cloud.Cloud { return l.l.Cloud }

// AuthorityHost returns the fake Entra ID's URL, such as https://127.0.0.1:40123: the
// AuthorityHost of [Lab.Cloud], and what the example programs take as -authority-host.
func (l *Lab) AuthorityHost() string { return l.l.IdP.URL() }

// Authority returns the authority URL of the lab's tenant: AuthorityHost/Tenant.
func (l *Lab) Authority() string { return l.l.IdP.Authority(Tenant) }

// ClientSecret returns the secret of the app [ClientID]. It is a test value; still, do not
// print it.
func (l *Lab) ClientSecret() string { return l.l.AppSecret }

// AppOnlyConfig returns the tokencache configuration of the lab's confidential app: its
// cloud, tenant, client id and secret. Pair it with a cache whose HTTPClient trusts the
// lab ([Lab.HTTPClient]).
func (l *Lab) AppOnlyConfig() tokencache.AppOnlyConfig {
	return tokencache.AppOnlyConfig{Cloud: l.l.Cloud, TenantID: Tenant, ClientID: ClientID,
		Credential: tokencache.ClientSecret(l.l.AppSecret)}
}

// DelegatedConfig returns the tokencache configuration of account (such as [User]) with
// the lab's public app.
func (l *Lab) DelegatedConfig(account string) tokencache.DelegatedConfig {
	return tokencache.DelegatedConfig{Cloud: l.l.Cloud, TenantID: Tenant, ClientID: PublicClientID, Account: account}
}

// SignIn signs account in to cache (whose HTTPClient must trust the lab) with the lab's
// public app, as if the person had finished a sign-in earlier, and returns the user. It
// works for [User] and [OtherUser]. The device code flow also works, for User only: the
// lab approves every device code as User at once.
func (l *Lab) SignIn(ctx context.Context, cache *tokencache.Cache, account string) (*tokencache.User, error) {
	u, err := cache.Delegated(l.DelegatedConfig(account))
	if err != nil {
		return nil, err
	}
	var scopes []string
	for _, p := range cloud.Protocols() {
		scopes = append(scopes, l.l.Cloud.DelegatedScopes(p)...)
	}
	scopes = append(scopes, l.l.Cloud.GraphDelegatedScopes()...)
	rt := l.l.IdP.IssueRefreshToken(Tenant, PublicClientID, account, scopes)
	if err := u.ImportRefreshToken(ctx, rt); err != nil {
		return nil, err
	}
	return u, nil
}

// CAPEM returns, in PEM, every certificate a client must trust to reach the lab: the
// lab's CA and the fake Entra ID's certificate.
func (l *Lab) CAPEM() []byte { return l.l.CAPEM() }

// CertPool returns a new pool holding [Lab.CAPEM].
func (l *Lab) CertPool() *x509.CertPool { return l.l.RootCAs() }

// TLSConfig returns a new client configuration that trusts the lab (and nothing else).
// The protocol packages set ServerName per connection; with crypto/tls directly, set it to
// "127.0.0.1".
func (l *Lab) TLSConfig() *tls.Config { return l.l.TLSConfig() }

// WriteCAFile writes [Lab.CAPEM] to the file lab-ca.pem in dir (mode 0600) and returns its
// path: the -ca-file of the example programs.
func (l *Lab) WriteCAFile(dir string) (string, error) {
	p := filepath.Join(dir, "lab-ca.pem")
	return p, os.WriteFile(p, l.CAPEM(), 0o600)
}

// HTTPClient returns a new client that trusts the lab and dials through
// [Lab.DialContext]: for tokencache, EWS, ActiveSync, Graph and Autodiscover.
func (l *Lab) HTTPClient() *http.Client { return l.l.HTTPClient() }

// DialContext connects the lab's Autodiscover host names (the cloud's, the names in
// Options.Autodiscover, any name under contoso.test) to the lab, and loopback addresses
// directly. Any other address fails without leaving the machine. Give it to
// autodiscover.Options.DialContext.
func (l *Lab) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return l.l.DialContext(ctx, network, addr)
}

// LookupSRV answers every SRV query with "no such host", without DNS: an
// autodiscover.Resolver for the lab.
func (l *Lab) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	return l.l.Autod.LookupSRV(ctx, service, proto, name)
}

// IMAPAddr returns the IMAP server's host:port. It speaks STARTTLS
// (imapauth.DialStartTLS).
func (l *Lab) IMAPAddr() string { return l.l.IMAP.Addr() }

// POPAddr returns the POP3 server's implicit-TLS host:port (popauth.DialTLS).
func (l *Lab) POPAddr() string { return l.l.POP.Addr() }

// POPStartTLSAddr returns the POP3 server's plaintext host:port that offers STLS
// (popauth.DialStartTLS).
func (l *Lab) POPStartTLSAddr() string { return l.l.POP.PlainAddr() }

// SMTPAddr returns the SMTP submission server's host:port. It speaks STARTTLS
// (smtpauth.DialStartTLS, smtpauth.SendMail).
func (l *Lab) SMTPAddr() string { return l.l.SMTP.Addr() }

// EWSURL returns the EWS endpoint, https://127.0.0.1:port/EWS/Exchange.asmx.
func (l *Lab) EWSURL() string { return l.l.EWS.URL() }

// EASURL returns the ActiveSync endpoint, https://127.0.0.1:port/Microsoft-Server-ActiveSync.
func (l *Lab) EASURL() string { return l.l.EAS.URL() }

// GraphURL returns the Microsoft Graph endpoint without version (https://127.0.0.1:port),
// for graph.Options.URL. Graph tokens are still asked for https://graph.microsoft.com.
func (l *Lab) GraphURL() string { return l.l.Graph.URL() }

// TokenRequests returns how many requests reached the fake Entra ID's token endpoint.
func (l *Lab) TokenRequests() int64 { return l.l.IdP.TotalRequests() }

// Sent is a message a lab server accepted for sending.
type Sent struct {
	// Protocol is "SMTP", "EWS", "ActiveSync" or "Graph".
	Protocol string
	// Mailbox is the mailbox that sent it: over SMTP the authenticated user (for an app,
	// the user name of its SASL exchange), else the mailbox of the request.
	Mailbox string
	// From is the sender: SMTP's MAIL FROM, else empty.
	From string
	// To are the recipients: SMTP's RCPT TO, or the message's recipients.
	To []string
	// Subject is the message's subject.
	Subject string
	// Data is the message as received (RFC 5322, CRLF line ends), when there is one.
	Data []byte
}

// Sent returns the messages accepted for sending so far, SMTP first, then EWS, ActiveSync
// and Graph, each in the order received.
func (l *Lab) Sent() []Sent {
	var out []Sent
	for _, m := range l.l.SMTP.Messages() {
		out = append(out, Sent{Protocol: "SMTP", Mailbox: m.AuthUser, From: m.From, To: m.To, Subject: subjectOf(m.Data), Data: m.Data})
	}
	for _, m := range l.l.EWS.Sent() {
		to := append(append(append([]string(nil), m.To...), m.Cc...), m.Bcc...)
		out = append(out, Sent{Protocol: "EWS", Mailbox: m.From, To: to, Subject: m.Subject, Data: m.MIME})
	}
	for _, b := range l.l.EAS.Sent() {
		s := Sent{Protocol: "ActiveSync", Subject: subjectOf(b), Data: b}
		if msg, err := mail.ReadMessage(bytes.NewReader(b)); err == nil {
			s.Mailbox = addrOf(msg.Header.Get("From"))
			for _, h := range []string{"To", "Cc"} {
				if list, err := msg.Header.AddressList(h); err == nil {
					for _, a := range list {
						s.To = append(s.To, a.Address)
					}
				}
			}
		}
		out = append(out, s)
	}
	for _, m := range l.l.Graph.Sent() {
		out = append(out, Sent{Protocol: "Graph", Mailbox: m.From, To: m.To, Subject: m.Subject, Data: m.MIME})
	}
	return out
}

func subjectOf(data []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	return msg.Header.Get("Subject")
}

func addrOf(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.Address
}

// Deliver puts msg (an RFC 5322 message) in the inbox of mailbox on the IMAP, EWS,
// ActiveSync and Graph servers; their stores are separate, so each gets a copy. The POP3
// server's mailboxes are fixed when the lab starts.
func (l *Lab) Deliver(mailbox string, msg []byte) error {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return fmt.Errorf("mailauthtest: Deliver: %w", err)
	}
	body, _ := readAll(m)
	subject, from := m.Header.Get("Subject"), addrOf(m.Header.Get("From"))
	date, err := m.Header.Date()
	if err != nil {
		date = time.Now()
	}
	if err := l.l.IMAP.Deliver(mailbox, msg); err != nil {
		return fmt.Errorf("mailauthtest: Deliver: %w", err)
	}
	if _, err := l.l.EWS.AddMessage(mailbox, from, subject, body, date); err != nil {
		return fmt.Errorf("mailauthtest: Deliver: %w", err)
	}
	l.l.EAS.Deliver(mailbox, eastest.Message{Subject: subject, From: from, To: mailbox, Body: body, Date: date})
	gm := graphtest.Message{Subject: subject, From: graphtest.Address{Address: from}, To: []graphtest.Address{{Address: mailbox}},
		Received: date, Body: body, InternetMessageID: m.Header.Get("Message-Id"), MIME: msg}
	if _, err := l.l.Graph.Deliver(mailbox, "inbox", gm); err != nil {
		return fmt.Errorf("mailauthtest: Deliver: %w", err)
	}
	return nil
}

func readAll(m *mail.Message) (string, error) {
	b, err := io.ReadAll(m.Body)
	return string(b), err
}

// FailNextIMAPAuth makes the next n IMAP AUTHENTICATE commands fail with
// "NO AUTHENTICATE failed." whatever the token, as Exchange Online answers an app without
// permission on the mailbox.
func (l *Lab) FailNextIMAPAuth(n int) { l.l.IMAP.FailNextAuth(n) }

// FailNextSMTPAuth makes the next n SMTP AUTH commands fail with Exchange Online's answer
// when SMTP AUTH is disabled for the tenant (535 5.7.139).
func (l *Lab) FailNextSMTPAuth(n int) {
	r := make([]smtptest.Reply, n)
	for i := range r {
		r[i] = smtptest.ReplyAuthDisabled
	}
	l.l.SMTP.FailNextAuth(r...)
}

// DenyEWSImpersonation makes EWS refuse (deny true) or allow app-only impersonation, as
// when an application access policy leaves a mailbox out.
func (l *Lab) DenyEWSImpersonation(deny bool) { l.l.EWS.SetDenyImpersonation(deny) }

// Settings writes the lab's CA file and client secret into dir (which should be private:
// the files are 0600) and returns the settings another process needs, as the environment
// variables the example programs read (MAILAUTH_*). The secret is not among them: it is in
// the file named by SecretFile, for MAILAUTH_CLIENT_SECRET.
func (l *Lab) Settings(dir string) (*Settings, error) {
	ca, err := l.WriteCAFile(dir)
	if err != nil {
		return nil, err
	}
	sec := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(sec, []byte(l.ClientSecret()), 0o600); err != nil {
		return nil, err
	}
	return &Settings{
		AuthorityHost: l.AuthorityHost(), Tenant: Tenant, ClientID: ClientID, PublicClientID: PublicClientID,
		CAFile: ca, SecretFile: sec, Mailbox: SharedMailbox, User: User,
		IMAPAddr: l.IMAPAddr(), POPAddr: l.POPStartTLSAddr(), SMTPAddr: l.SMTPAddr(),
		EWSURL: l.EWSURL(), EASURL: l.EASURL(), GraphURL: l.GraphURL(),
	}, nil
}

// Settings are what a program in another process needs to use a lab.
type Settings struct {
	AuthorityHost  string // the fake Entra ID's URL (-authority-host)
	Tenant         string // -tenant
	ClientID       string // the confidential app (-client-id, app-only)
	PublicClientID string // the public app (-client-id, delegated)
	CAFile         string // PEM file to trust (-ca-file)
	SecretFile     string // file holding the client secret, for MAILAUTH_CLIENT_SECRET
	Mailbox        string // the shared mailbox the app may open (-mailbox)
	User           string // the user the device code flow signs in
	// IMAPAddr, POPAddr and SMTPAddr speak STARTTLS (STLS for POP3), as mailcheck expects
	// of ports other than 993, 995 and 465.
	IMAPAddr, POPAddr, SMTPAddr string
	EWSURL                      string // -ews-url
	EASURL                      string // -eas-url
	GraphURL                    string // -graph-url
}

// Env returns the app-only settings as NAME=value pairs of the environment variables the
// example programs read, mailcheck's server addresses included. The client secret is not
// among them (see SecretFile).
func (s *Settings) Env() []string {
	return []string{
		"MAILAUTH_AUTHORITY_HOST=" + s.AuthorityHost,
		"MAILAUTH_TENANT=" + s.Tenant,
		"MAILAUTH_CLIENT_ID=" + s.ClientID,
		"MAILAUTH_CA_FILE=" + s.CAFile,
		"MAILAUTH_MAILBOX=" + s.Mailbox,
		"MAILAUTH_IMAP_ADDR=" + s.IMAPAddr,
		"MAILAUTH_POP_ADDR=" + s.POPAddr,
		"MAILAUTH_SMTP_ADDR=" + s.SMTPAddr,
		"MAILAUTH_EWS_URL=" + s.EWSURL,
		"MAILAUTH_EAS_URL=" + s.EASURL,
		"MAILAUTH_GRAPH_URL=" + s.GraphURL,
	}
}

// String describes the lab by its Entra ID's URL.
func (l *Lab) String() string { return "mailauthtest.Lab(" + l.AuthorityHost() + ")" }
