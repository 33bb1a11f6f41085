package interop

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/internal/interop/dovecot"
)

const (
	tenant   = "contoso-tenant"
	alice    = "alice@example.com"
	bob      = "bob@example.com"
	audience = "https://outlook.office365.com"
	scopes   = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send"
)

// lab is one Dovecot instance that trusts one fake Entra ID.
type lab struct {
	idp    *fakeidp.IdP
	ca     *testpki.CA
	dc     *dovecot.Server
	tls    *tls.Config
	issuer string
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
	keyErr  error
)

// sharedKey saves generating a 2048-bit key per lab.
func sharedKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { rsaKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return rsaKey, keyErr
}

// shared is the default lab, started on first use and stopped by TestMain:
// one Dovecot for every test that needs no special configuration.
var shared struct {
	once sync.Once
	l    *lab
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.l != nil {
		shared.l.close()
	}
	os.Exit(code)
}

// newLab returns the shared lab. Tests must not depend on what other tests
// did to it: they read only the messages they put there, and look at the
// part of Dovecot's log written since they started.
func newLab(t testing.TB) *lab {
	t.Helper()
	if _, err := dovecot.Lookup(); err != nil {
		dovecot.Skip(t, err.Error())
		return nil
	}
	shared.once.Do(func() { shared.l, shared.err = buildLab(fakeidp.Options{}, nil) })
	require.NoError(t, shared.err, "starting the shared Dovecot lab")
	return shared.l
}

// newLabWith starts a lab of the test's own, with changed IdP and Dovecot
// options; it is stopped when the test ends.
func newLabWith(t testing.TB, io fakeidp.Options, mod func(*dovecot.Options)) *lab {
	t.Helper()
	if _, err := dovecot.Lookup(); err != nil {
		dovecot.Skip(t, err.Error())
		return nil
	}
	l, err := buildLab(io, mod)
	require.NoError(t, err, "starting a Dovecot lab")
	t.Cleanup(l.close)
	return l
}

func buildLab(io fakeidp.Options, mod func(*dovecot.Options)) (*lab, error) {
	key, err := sharedKey()
	if err != nil {
		return nil, err
	}
	io.SigningKey, io.DovecotClaims = key, true
	idp, err := fakeidp.New(io)
	if err != nil {
		return nil, err
	}
	ca, err := testpki.New()
	if err != nil {
		idp.Close()
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue("localhost", "127.0.0.1")
	if err != nil {
		idp.Close()
		return nil, err
	}
	l := &lab{idp: idp, ca: ca, issuer: idp.URL() + "/" + tenant + "/v2.0"}
	do := dovecot.Options{
		PublicKeyPEM: idp.PublicKeyPEM(),
		KeyID:        idp.KeyID(),
		Issuers:      []string{l.issuer},
		ClientID:     audience,
		Scope:        scopes,
		CertPEM:      certPEM,
		KeyPEM:       keyPEM,
		Users:        []string{alice, bob},
		Messages: map[string][]string{
			alice: {"From: <carol@example.com>\r\nTo: <alice@example.com>\r\nSubject: Welcome Alice\r\n\r\nHello alice.\r\n.dot line\r\n"},
		},
	}
	if mod != nil {
		mod(&do)
	}
	l.dc, err = dovecot.New(do)
	if err != nil {
		idp.Close()
		return nil, err
	}
	l.tls = ca.ClientConfig()
	l.tls.ServerName = "localhost"
	return l, nil
}

func (l *lab) close() {
	l.dc.Stop()
	l.idp.Close()
}

// logMark returns the current length of Dovecot's log, for logSince.
func (l *lab) logMark() int { return len(l.dc.Log()) }

// logSince returns what Dovecot logged after mark.
func (l *lab) logSince(mark int) string {
	s := l.dc.Log()
	if mark > len(s) {
		return s
	}
	return s[mark:]
}

// claims are the claims Dovecot's oauth2 passdb wants, shaped like an Entra
// delegated token plus Dovecot's email and scope.
func (l *lab) claims(user string) fakeidp.Claims {
	now := time.Now()
	return fakeidp.Claims{
		Audience:  audience,
		Issuer:    l.issuer,
		Subject:   "sub-" + user,
		TenantID:  tenant,
		OID:       "oid-" + user,
		UPN:       user,
		Email:     user,
		Scope:     scopes,
		Scp:       strings.Fields(scopes),
		IssuedAt:  now.Add(-time.Minute),
		NotBefore: now.Add(-time.Minute),
		ExpiresAt: now.Add(time.Hour),
	}
}

func (l *lab) mint(t testing.TB, c fakeidp.Claims) string {
	t.Helper()
	tok, err := l.idp.Mint(c)
	require.NoError(t, err)
	return tok
}

func (l *lab) token(t testing.TB, user string) string { return l.mint(t, l.claims(user)) }

func (l *lab) expiredToken(t testing.TB, user string) string {
	c := l.claims(user)
	c.IssuedAt = time.Now().Add(-2 * time.Hour)
	c.NotBefore = c.IssuedAt
	c.ExpiresAt = time.Now().Add(-time.Minute)
	return l.mint(t, c)
}

// forgedToken has the IdP's kid and valid claims but is signed by another key.
func (l *lab) forgedToken(t testing.TB, user string) string {
	t.Helper()
	other, err := rsa.GenerateKey(rand.Reader, 2048) // not the IdP's key
	require.NoError(t, err)
	c := l.claims(user)
	m := jwt.MapClaims{
		"aud": c.Audience, "iss": c.Issuer, "sub": c.Subject, "tid": c.TenantID, "upn": c.UPN,
		"email": c.Email, "scope": c.Scope, "scp": strings.Join(c.Scp, " "),
		"iat": c.IssuedAt.Unix(), "nbf": c.NotBefore.Unix(), "exp": c.ExpiresAt.Unix(),
	}
	jt := jwt.NewWithClaims(jwt.SigningMethodRS256, m)
	jt.Header["kid"] = l.idp.KeyID()
	s, err := jt.SignedString(other)
	require.NoError(t, err)
	return s
}

// bigToken is a valid token of at least 2 KB (Entra tokens are 1.5-2.5 KB).
func (l *lab) bigToken(t testing.TB, user string) string {
	c := l.claims(user)
	c.Extra = map[string]any{"xms_pad": strings.Repeat("p", 1600)}
	tok := l.mint(t, c)
	require.GreaterOrEqual(t, len(tok), 2048)
	return tok
}

// countingSource is a static token source that counts fetches and
// invalidations.
type countingSource struct {
	tok         string
	fetches     atomic.Int64
	invalidated atomic.Int64
}

func newSource(tok string) *countingSource { return &countingSource{tok: tok} }

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.fetches.Add(1)
	return &oauth2.Token{AccessToken: s.tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func (s *countingSource) Invalidate(*oauth2.Token) { s.invalidated.Add(1) }

// from127002 is a dialer bound to 127.0.0.2, so that Dovecot does not treat
// the connection as local and secure.
func from127002() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
}

// bounded is how long a failing login may take. Dovecot answers a refused
// token within about a second (auth_failure_delay = 0, penalty off); the
// margin is for loaded CI machines. The contexts are longer (20 s), so a
// hang would show as a failure here rather than as a context timeout.
const bounded = 10 * time.Second
