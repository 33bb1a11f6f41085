package mailauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
)

// rotatingSource is a token source written by hand: it has Token, and gains the
// one retry after a refusal by adding Invalidate.
type rotatingSource struct {
	mu   sync.Mutex
	n    int
	last *oauth2.Token
}

func (s *rotatingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.n++
		s.last = &oauth2.Token{AccessToken: fmt.Sprintf("token-%d", s.n)}
	}
	return s.last, nil
}

// Invalidate forgets tok only if it is still the current token (compare and drop).
func (s *rotatingSource) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == tok {
		s.last = nil
	}
}

// A protocol package fetches with TokenContext and, after a refusal, calls Invalidate
// once and fetches again.
func ExampleInvalidate() {
	src := &rotatingSource{}
	ctx := context.Background()
	tok, _ := mailauth.TokenContext(ctx, src)
	fmt.Println("first:", tok.AccessToken)
	if mailauth.Invalidate(src, tok) { // the server refused tok
		tok, _ = mailauth.TokenContext(ctx, src)
	}
	fmt.Println("retry:", tok.AccessToken)
	// Output:
	// first: token-1
	// retry: token-2
}

func ExampleParseIdentity() {
	claims := `{"aud":"https://outlook.office365.com","appid":"11111111-2222-3333-4444-555555555555","roles":["IMAP.AccessAsApp"]}`
	tok := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	id := mailauth.ParseIdentity(tok)
	fmt.Println(id.AppOnly(), id.Principal())
	fmt.Println(id)
	// Output:
	// true app 11111111-2222-3333-4444-555555555555
	// appid=11111111-2222-3333-4444-555555555555 aud=https://outlook.office365.com roles=IMAP.AccessAsApp
}

// One errors.As target covers IMAP, POP3 and SMTP.
func ExampleMailboxAccessError() {
	var err error = fmt.Errorf("reading inbox: %w", &mailauth.MailboxAccessError{
		Protocol:   "IMAP",
		Mailbox:    "shared@contoso.com",
		Identity:   mailauth.Identity{UPN: "alice@contoso.com"},
		ServerText: "User is authenticated but not connected.",
	})
	var mae *mailauth.MailboxAccessError
	if errors.As(err, &mae) {
		fmt.Println(mae.Identity.Principal(), "may not open", mae.Mailbox, "over", mae.Protocol)
	}
	// Output:
	// alice@contoso.com may not open shared@contoso.com over IMAP
}
