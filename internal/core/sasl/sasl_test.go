package sasl

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// jwt builds an unsigned JWT-shaped token with the given claims JSON.
func jwt(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".c2ln"
}

func TestXOAuth2PayloadBytes(t *testing.T) {
	p, err := XOAuth2Payload("shared@contoso.com", "tok.en.x")
	require.NoError(t, err)
	assert.Equal(t, "user=shared@contoso.com\x01auth=Bearer tok.en.x\x01\x01", string(p))

	for _, bad := range []string{"", "a\r\nb", "a\x01b"} {
		_, err := XOAuth2Payload(bad, "t")
		assert.ErrorIs(t, err, ErrInvalidUsername, "user %q", bad)
	}
	_, err = XOAuth2Payload("u", "t t")
	assert.ErrorIs(t, err, ErrInvalidToken)
}

func TestOAuthBearerPayloadBytes(t *testing.T) {
	p, err := OAuthBearerPayload("a,b=c@x", "imap.example.com", 993, "T")
	require.NoError(t, err)
	assert.Equal(t, "n,a=a=2Cb=3Dc@x,\x01host=imap.example.com\x01port=993\x01auth=Bearer T\x01\x01", string(p))
	p, err = OAuthBearerPayload("u", "", 0, "T")
	require.NoError(t, err)
	assert.Equal(t, "n,a=u,\x01auth=Bearer T\x01\x01", string(p))
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name, in               string
		status, schemes, scope string
		malformed              bool
	}{
		{"dovecot xoauth2", `{"status":"401","schemes":"bearer","scope":"mail"}`, "401", "bearer", "mail", false},
		{"dovecot oauthbearer", `{"status":"invalid_token"}`, "invalid_token", "", "", false},
		{"numeric status", `{"status":400,"schemes":"Bearer"}`, "400", "Bearer", "", false},
		{"not json", `hello`, "", "", "", true},
		{"array", `[1,2]`, "", "", "", true},
		{"null", `null`, "", "", "", true},
		{"nested status", `{"status":{"a":1}}`, "", "", "", false},
		{"control chars", "{\"status\":\"4\\u000101\"}", "4?01", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ParseChallenge([]byte(tc.in))
			assert.Equal(t, tc.status, c.Status)
			assert.Equal(t, tc.schemes, c.Schemes)
			assert.Equal(t, tc.scope, c.Scope)
			assert.Equal(t, tc.malformed, c.Malformed)
		})
	}
	c, err := ParseChallengeBase64("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=")
	require.NoError(t, err)
	assert.Equal(t, "status=401 schemes=bearer scope=mail", c.String())
	_, err = ParseChallengeBase64("!!!")
	assert.Error(t, err)
}

type countingSource struct {
	tok         *oauth2.Token
	calls       int
	ctxCalls    int
	invalidated []*oauth2.Token
}

func (s *countingSource) Token() (*oauth2.Token, error) { s.calls++; return s.tok, nil }
func (s *countingSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.ctxCalls++
	return s.tok, ctx.Err()
}
func (s *countingSource) Invalidate(tok *oauth2.Token) { s.invalidated = append(s.invalidated, tok) }

func TestClientXOAuth2ErrorChallenge(t *testing.T) {
	src := &countingSource{tok: &oauth2.Token{AccessToken: jwt(`{"upn":"alice@contoso.com","aud":"https://outlook.office365.com","exp":1900000000}`)}}
	c := NewClient(ClientOptions{Mailbox: "alice@contoso.com", Source: src})
	mech, ir, err := c.Start()
	require.NoError(t, err)
	assert.Equal(t, "XOAUTH2", mech)
	assert.True(t, strings.HasPrefix(string(ir), "user=alice@contoso.com\x01auth=Bearer "))
	assert.Equal(t, 1, src.ctxCalls, "TokenContext is preferred")
	assert.Equal(t, 0, src.calls)

	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
	require.NoError(t, err)
	require.NotNil(t, resp, "the acknowledgement must be empty, not nil")
	assert.Len(t, resp, 0)
	assert.Equal(t, "401", c.Challenge().Status)
	assert.Equal(t, "alice@contoso.com", c.Identity().UPN)
	assert.Equal(t, time.Unix(1900000000, 0), c.Expiry())

	_, err = c.Next([]byte("x"))
	require.NoError(t, err)
	_, err = c.Next([]byte("x"))
	assert.ErrorIs(t, err, ErrTooManyChallenges)
}

func TestClientOAuthBearerTwoStep(t *testing.T) {
	c := NewClient(ClientOptions{Mechanism: "oauthbearer", Mailbox: "bob@x", Host: "h", Port: 143,
		Token: &oauth2.Token{AccessToken: "opaque"}, NoInitialResponse: true})
	mech, ir, err := c.Start()
	require.NoError(t, err)
	assert.Equal(t, OAuthBearer, mech)
	assert.Nil(t, ir)
	resp, err := c.Next([]byte{})
	require.NoError(t, err)
	assert.Equal(t, "n,a=bob@x,\x01host=h\x01port=143\x01auth=Bearer opaque\x01\x01", string(resp))
	resp, err = c.Next([]byte(`{"status":"invalid_token"}`))
	require.NoError(t, err)
	assert.Equal(t, []byte{1}, resp)
	assert.Equal(t, "invalid_token", c.Challenge().Status)
	assert.True(t, c.Identity().IsZero())
}

func TestClientStartErrors(t *testing.T) {
	_, _, err := NewClient(ClientOptions{Mailbox: "u"}).Start()
	assert.Error(t, err, "no source")
	_, _, err = NewClient(ClientOptions{Mailbox: "u", Mechanism: "PLAIN", Token: &oauth2.Token{AccessToken: "t"}}).Start()
	assert.Error(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := &countingSource{tok: &oauth2.Token{AccessToken: "t"}}
	_, _, err = NewClient(ClientOptions{Mailbox: "u", Source: src, Context: ctx}).Start()
	assert.ErrorIs(t, err, context.Canceled)
}

func TestIdentity(t *testing.T) {
	id := mailauth.ParseIdentity(jwt(`{"aud":["https://graph.microsoft.com"],"oid":"o1","appid":"a1","tid":"t1","roles":["Mail.Read"],"exp":1900000000.0}`))
	assert.Equal(t, []string{"https://graph.microsoft.com"}, id.Audience)
	assert.True(t, id.AppOnly())
	assert.Contains(t, AudienceHint(id), "Microsoft Graph")
	assert.Contains(t, DefaultHint(id, "m"), "Microsoft Graph")
	id = mailauth.ParseIdentity(jwt(`{"aud":"https://outlook.office365.com","scp":"IMAP.AccessAsUser.All offline_access","preferred_username":"p@x"}`))
	assert.Equal(t, []string{"IMAP.AccessAsUser.All", "offline_access"}, id.Scopes)
	assert.Equal(t, "p@x", id.UPN)
	assert.Empty(t, AudienceHint(id))
	assert.True(t, mailauth.ParseIdentity("not-a-jwt").IsZero())
	assert.True(t, mailauth.ParseIdentity("a.!!!.c").IsZero())
}

func TestAuthErrorNeverShowsToken(t *testing.T) {
	tok := jwt(`{"upn":"alice@contoso.com","aud":"https://outlook.office365.com"}`)
	c := NewClient(ClientOptions{Mailbox: "alice@contoso.com", Token: &oauth2.Token{AccessToken: tok}})
	_, _, err := c.Start()
	require.NoError(t, err)
	_, _ = c.Next([]byte(`{"status":"401"}`))
	inner := errors.New("NO AUTHENTICATE failed.")
	e := &mailauth.AuthError{Protocol: "IMAP", Mechanism: c.Mechanism(), Mailbox: "alice@contoso.com", Challenge: c.Challenge(),
		Code: "AUTHENTICATIONFAILED", ServerText: "AUTHENTICATE failed.", Identity: c.Identity(),
		Hint: DefaultHint(c.Identity(), "alice@contoso.com"), Err: inner}
	var err2 error = e
	for _, s := range []string{e.Error(), fmt.Sprintf("%v", err2), fmt.Sprintf("%+v", err2), fmt.Sprintf("%#v", e), fmt.Sprintf("%v %+v %#v", c, c, c)} {
		assert.NotContains(t, s, tok)
		assert.NotContains(t, s, strings.Split(tok, ".")[1])
	}
	assert.True(t, strings.HasPrefix(e.Error(), "imapauth: XOAUTH2 authentication as alice@contoso.com failed: server said AUTHENTICATIONFAILED AUTHENTICATE failed. (challenge status=401)"), e.Error())
	assert.ErrorIs(t, err2, inner)
	assert.Equal(t, "401", e.Status())
}

func TestInvalidate(t *testing.T) {
	src := &countingSource{tok: &oauth2.Token{AccessToken: "t"}}
	assert.True(t, mailauth.Invalidate(src, src.tok))
	assert.Equal(t, []*oauth2.Token{src.tok}, src.invalidated)
	assert.False(t, mailauth.Invalidate(oauth2.StaticTokenSource(src.tok), src.tok))
}
