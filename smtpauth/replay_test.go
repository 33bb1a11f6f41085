package smtpauth_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/smtpauth"
)

// Lines as Exchange Online's submission endpoint sent them (host names and ids shortened).
const (
	exGreeting = "220 BN9PR03CA0123.outlook.office365.com Microsoft ESMTP MAIL Service ready at Sun, 6 Dec 2026 08:00:00 +0000"
	exEHLO     = "250-BN9PR03CA0123.outlook.office365.com Hello [203.0.113.5]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8"
	ex535      = "535 5.7.3 Authentication unsuccessful [BN9PR03CA0123.namprd03.prod.outlook.com 2026-12-06T08:00:00.000Z 08DD1A2B3C4D5E6F]"
	exUnknown  = "500 5.3.3 Unrecognized command"
	// {"status":"401","schemes":"bearer","scope":"https://outlook.office.com/SMTP.Send"}
	exChallenge = "334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL291dGxvb2sub2ZmaWNlLmNvbS9TTVRQLlNlbmQifQ=="
)

// scripted is an SMTP peer on loopback that answers each client line with the next
// scripted reply and records every line the client sent, until the client closes.
type scripted struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

// newScripted starts a peer; reply maps the n-th client line (0-based) and its text to
// the reply to send ("" sends nothing).
func newScripted(t *testing.T, reply func(n int, line string) string) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &scripted{ln: ln, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		defer close(s.done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte(exGreeting + "\r\n"))
		br := bufio.NewReader(c)
		for n := 0; ; n++ {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			s.mu.Lock()
			s.lines = append(s.lines, line)
			s.mu.Unlock()
			if r := reply(n, line); r != "" {
				_, _ = c.Write([]byte(r + "\r\n"))
			}
		}
	}()
	return s
}

// sent waits until the client closed the connection and returns what it sent.
func (s *scripted) sent() []string {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func (s *scripted) dial(t *testing.T) net.Conn {
	c, err := net.Dial("tcp", s.ln.Addr().String())
	require.NoError(t, err)
	return c
}

func exchange(replies ...string) func(int, string) string {
	return func(n int, line string) string {
		if line == "*" {
			return exUnknown
		}
		if n < len(replies) {
			return replies[n]
		}
		if strings.EqualFold(line, "QUIT") {
			return "221 2.0.0 Service closing transmission channel"
		}
		return exUnknown
	}
}

func replayOptions() *smtpauth.Options {
	// An Entra token is 1.5-2.5 KB, so AUTH goes in two steps.
	tok := "eyJ0eXAiOiJKV1QifQ." + base64.RawURLEncoding.EncodeToString([]byte(`{"upn":"alice@contoso.com","pad":"`+strings.Repeat("x", 1500)+`"}`)) + ".c2ln"
	return &smtpauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		Mailbox: "alice@contoso.com", InsecureAllowPlaintext: true}
}

// After a final 535 to AUTH no line may follow: go-smtp's Auth sent "*" (RFC 4954 §4
// allows it only in answer to a 334), which Exchange answers with 500 5.3.3.
func TestReplayNoLineAfterFinalReply(t *testing.T) {
	s := newScripted(t, exchange(exEHLO, "334 ", ex535))
	_, err := smtpauth.NewClient(ctxT(t), s.dial(t), replayOptions())
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "535 5.7.3", ae.Code)
	assert.ErrorIs(t, err, smtpauth.ErrAuthUnsuccessful)
	sent := s.sent()
	require.Len(t, sent, 3, "EHLO, AUTH, payload and nothing after the 535: %q", sent)
	assert.Equal(t, "AUTH XOAUTH2", sent[1])
	assert.NotContains(t, sent, "*")
}

// The error challenge is answered with the empty response, then the 535 ends it: no "*".
func TestReplayErrorChallenge(t *testing.T) {
	s := newScripted(t, exchange(exEHLO, "334 ", exChallenge, ex535))
	_, err := smtpauth.NewClient(ctxT(t), s.dial(t), replayOptions())
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	require.NotNil(t, ae.Challenge)
	assert.Equal(t, "401", ae.Challenge.Status)
	sent := s.sent()
	require.Len(t, sent, 4, "%q", sent)
	assert.Equal(t, "", sent[3], "the error challenge is answered with an empty line")
	assert.NotContains(t, sent, "*")
}

// A 334 with no text at all ("334", as Microsoft's own sample prints it) is an empty
// challenge: the payload follows, and the session goes on.
func TestReplayBare334(t *testing.T) {
	for _, cont := range []string{"334", "334 "} {
		s := newScripted(t, exchange(exEHLO, cont, "235 2.7.0 Authentication successful"))
		c, err := smtpauth.NewClient(ctxT(t), s.dial(t), replayOptions())
		require.NoError(t, err, "continuation %q", cont)
		require.NoError(t, c.Quit())
		sent := s.sent()
		assert.Equal(t, []string{"EHLO localhost", "AUTH XOAUTH2"}, sent[:2])
		assert.Equal(t, "QUIT", sent[len(sent)-1])
	}
}

// A challenge that is not base64 is cancelled with "*" (allowed: it answers a 334), and the
// final reply is read.
func TestReplayGarbledChallenge(t *testing.T) {
	s := newScripted(t, exchange(exEHLO, "334 ", "334 not base64!", "501 5.5.2 Cannot Decode response"))
	_, err := smtpauth.NewClient(ctxT(t), s.dial(t), replayOptions())
	require.Error(t, err)
	sent := s.sent()
	assert.Equal(t, "*", sent[len(sent)-1])
	var ae *mailauth.AuthError
	assert.True(t, errors.As(err, &ae))
}
