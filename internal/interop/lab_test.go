package interop

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/dovecot"
	"github.com/modernauth/mailauth/internal/fakeidp"
	"github.com/modernauth/mailauth/internal/testpki"
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

// sharedKey saves generating a 2048-bit key per test.
func sharedKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() { rsaKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	require.NoError(t, keyErr)
	return rsaKey
}

func newLab(t testing.TB) *lab { return newLabWith(t, fakeidp.Options{}, nil) }

// newLabWith lets a test change the IdP's options and Dovecot's.
func newLabWith(t testing.TB, io fakeidp.Options, mod func(*dovecot.Options)) *lab {
	t.Helper()
	if _, err := dovecot.Lookup(); err != nil {
		dovecot.Skip(t, err.Error())
	}
	io.SigningKey, io.DovecotClaims = sharedKey(t), true
	idp, err := fakeidp.New(io)
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	ca, err := testpki.New()
	require.NoError(t, err)
	certPEM, keyPEM, err := ca.Issue("localhost", "127.0.0.1")
	require.NoError(t, err)
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
	l.dc = dovecot.Start(t, do)
	l.tls = ca.ClientConfig()
	l.tls.ServerName = "localhost"
	return l
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
	other, err := rsa.GenerateKey(rand.Reader, 2048)
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
