package mailauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
)

type ctxSource struct{ gotCtx context.Context }

func (s *ctxSource) Token() (*oauth2.Token, error) {
	return nil, errors.New("Token must not be called")
}
func (s *ctxSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.gotCtx = ctx
	return &oauth2.Token{AccessToken: "abc"}, nil
}

func TestTokenContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, 1)
	cs := &ctxSource{}
	tok, err := mailauth.TokenContext(ctx, cs)
	require.NoError(t, err)
	assert.Equal(t, "abc", tok.AccessToken)
	assert.Equal(t, 1, cs.gotCtx.Value(key{}))

	_, err = mailauth.TokenContext(ctx, nil)
	assert.ErrorIs(t, err, mailauth.ErrNoToken)
	for _, bad := range []string{"", "a b", "a\r\nb", "a\x01"} {
		_, err = mailauth.TokenContext(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: bad}))
		assert.ErrorIs(t, err, mailauth.ErrNoToken, "%q", bad)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = mailauth.TokenContext(cctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}))
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, mailauth.Invalidate(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), &oauth2.Token{}))
}

func jwt(claims string) string {
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
}

func TestIdentity(t *testing.T) {
	id := mailauth.ParseIdentity(jwt(`{"aud":["https://graph.microsoft.com"],"oid":"o1","appid":"a1","tid":"t1","roles":["Mail.Read"],"exp":1900000000.0}`))
	assert.True(t, id.AppOnly())
	assert.Equal(t, "app a1", id.Principal())
	assert.False(t, id.Expired(time.Unix(1800000000, 0)))
	assert.True(t, id.Expired(time.Unix(1900000000, 0)))
	id = mailauth.ParseIdentity(jwt(`{"aud":"https://outlook.office365.com","scp":"IMAP.AccessAsUser.All offline_access","preferred_username":"p@x"}`))
	assert.Equal(t, []string{"IMAP.AccessAsUser.All", "offline_access"}, id.Scopes)
	assert.False(t, id.AppOnly())
	assert.Equal(t, "p@x", id.Principal())
	for _, s := range []string{"", "opaque", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c"} {
		assert.True(t, mailauth.ParseIdentity(s).IsZero(), s)
		assert.False(t, mailauth.ParseIdentity(s).AppOnly(), s)
	}
}

func TestErrorsNeverShowToken(t *testing.T) {
	tok := jwt(`{"upn":"alice@contoso.com","aud":"https://outlook.office365.com"}`)
	id := mailauth.ParseIdentity(tok)
	inner := errors.New("NO [AUTHENTICATIONFAILED] AUTHENTICATE failed.")
	errs := []error{
		&mailauth.AuthError{Protocol: "IMAP", Mechanism: "XOAUTH2", Mailbox: "alice@contoso.com",
			Challenge: &mailauth.Challenge{Status: "401"}, Code: "AUTHENTICATIONFAILED",
			ServerText: "AUTHENTICATE failed.\r\n", Identity: id, Hint: "h", Err: inner},
		&mailauth.MailboxAccessError{Protocol: "POP3", Mailbox: "shared@contoso.com", Identity: id, ServerText: "x", Err: inner},
	}
	for _, e := range errs {
		for _, s := range []string{e.Error(), fmt.Sprintf("%v %+v %#v", e, e, e)} {
			assert.NotContains(t, s, strings.Split(tok, ".")[1])
			assert.NotContains(t, s, "\r")
		}
		assert.ErrorIs(t, e, inner)
	}
	assert.True(t, strings.HasPrefix(errs[0].Error(), "imapauth: XOAUTH2 authentication as alice@contoso.com failed: server said AUTHENTICATIONFAILED AUTHENTICATE failed.?? (challenge status=401)"), errs[0].Error())
	assert.Contains(t, errs[1].Error(), "popauth: authenticated as alice@contoso.com but may not open mailbox shared@contoso.com")
	assert.Contains(t, errs[1].Error(), "POP3 is disabled")
}

// The root package is the vocabulary only: it imports no other package of the module.
func TestRootImportsNothingOfTheModule(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range af.Imports {
			assert.NotContains(t, imp.Path.Value, "github.com/modernauth/mailauth", "%s imports %s", f, imp.Path.Value)
		}
	}
}

// The layout the folders show is the one README's package table and the package doc describe.
func TestLayoutMatchesDocs(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var public []string
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "internal" || name == "examples" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dir := filepath.ToSlash(filepath.Dir(path))
			if len(public) == 0 || public[len(public)-1] != dir {
				public = append(public, dir)
			}
		}
		return nil
	})
	require.NoError(t, err)
	for _, dir := range public {
		if dir == "." {
			assert.True(t, strings.Contains(string(readme), "| [`mailauth`]"), "README's package table lacks the root package")
			continue
		}
		if strings.Contains(dir, "/internal") {
			continue
		}
		assert.True(t, strings.Contains(string(readme), "| [`"+dir+"`]"), "README's package table lacks %s", dir)
		assert.True(t, strings.Contains(string(doc), "github.com/modernauth/mailauth/"+dir+"]"), "the package doc's map lacks %s", dir)
	}
	entries, err := os.ReadDir("internal")
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() {
			assert.True(t, strings.Contains(string(doc), "internal/"+e.Name()), "the package doc's map lacks internal/%s", e.Name())
			assert.True(t, strings.Contains(string(readme), "internal/"+e.Name()+"/"), "README's layout lacks internal/%s", e.Name())
		}
	}
	// Test doubles and tool plumbing never link the testing package into programs.
	err = filepath.WalkDir("internal", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		af, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range af.Imports {
			assert.NotEqual(t, `"testing"`, imp.Path.Value, "%s imports testing", path)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestTokenExpiry(t *testing.T) {
	exp := time.Unix(1900000000, 0)
	tok := &oauth2.Token{AccessToken: jwt(`{"exp":1900000000}`), Expiry: exp.Add(800 * time.Millisecond)}
	assert.Equal(t, exp, mailauth.TokenExpiry(tok), "the JWT's exp wins when it is earlier")
	tok.Expiry = exp.Add(-time.Second)
	assert.Equal(t, exp.Add(-time.Second), mailauth.TokenExpiry(tok))
	assert.Equal(t, exp, mailauth.TokenExpiry(&oauth2.Token{AccessToken: jwt(`{"exp":1900000000}`)}))
	assert.True(t, mailauth.TokenExpiry(&oauth2.Token{AccessToken: "opaque"}).IsZero())
	assert.True(t, mailauth.TokenExpiry(nil).IsZero())
}
