package popauth_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/popauth"
)

// step is one exchange of a scripted server: the exact line the client must
// send (without CRLF; "" skips the check for the greeting) and the server's
// reply lines.
type step struct {
	want  string
	reply []string
}

// scripted runs a one-connection server on loopback that checks every client
// line byte for byte and answers from the script.
func scripted(t *testing.T, script func(port int) []step) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	errc := make(chan error, 1)
	go func() {
		defer ln.Close()
		conn, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		for i, s := range script(port) {
			if i > 0 {
				line, err := br.ReadString('\n')
				if err != nil {
					errc <- err
					return
				}
				if line != s.want+"\r\n" {
					errc <- errors.New("step " + strconv.Itoa(i) + ": client sent " + strconv.Quote(line) + ", want " + strconv.Quote(s.want+"\r\n"))
					return
				}
			}
			for _, r := range s.reply {
				conn.Write([]byte(r + "\r\n"))
			}
		}
		errc <- nil
	}()
	t.Cleanup(func() {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestTranscriptXOAuth2ErrorChallenge(t *testing.T) {
	addr := scripted(t, func(int) []step {
		return []step{
			{"", []string{"+OK ready"}},
			{"CAPA", []string{"+OK", "SASL XOAUTH2", "."}},
			{"AUTH XOAUTH2", []string{"+ "}},
			{b64("user=a@b.test\x01auth=Bearer tok\x01\x01"), []string{"+ " + b64(`{"status":"401","schemes":"bearer","scope":"mail"}`)}},
			{"", []string{"-ERR [AUTH] Authentication failed."}},
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c, err := popauth.NewClient(ctx, conn, &popauth.Options{InsecureAllowPlaintext: true})
	require.NoError(t, err)
	defer c.Close()
	err = c.Authenticate(ctx, "a@b.test", oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}))
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "401", ae.Status())
	assert.Equal(t, "mail", ae.Challenge.Scope)
	assert.Equal(t, "Authentication failed.", ae.ServerText)
}

func TestTranscriptOAuthBearerErrorChallenge(t *testing.T) {
	addr := scripted(t, func(port int) []step {
		return []step{
			{"", []string{"+OK ready"}},
			{"CAPA", []string{"+OK", "SASL XOAUTH2 OAUTHBEARER", "."}},
			{"AUTH OAUTHBEARER", []string{"+"}},
			{b64("n,a=a@b.test,\x01host=127.0.0.1\x01port=" + strconv.Itoa(port) + "\x01auth=Bearer tok\x01\x01"),
				[]string{"+ " + b64(`{"status":"invalid_token"}`)}},
			{"AQ==", []string{"-ERR [AUTH] Authentication failed."}},
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c, err := popauth.NewClient(ctx, conn, &popauth.Options{InsecureAllowPlaintext: true, Mechanism: popauth.OAuthBearer})
	require.NoError(t, err)
	defer c.Close()
	err = c.Authenticate(ctx, "a@b.test", oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}))
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "invalid_token", ae.Status())
}

func TestTranscriptAbortOnThirdChallenge(t *testing.T) {
	addr := scripted(t, func(int) []step {
		return []step{
			{"", []string{"+OK ready"}},
			{"CAPA", []string{"-ERR no CAPA here"}},
			{"AUTH XOAUTH2", []string{"+ "}},
			{b64("user=a@b.test\x01auth=Bearer tok\x01\x01"), []string{"+ " + b64(`{"status":"401"}`)}},
			{"", []string{"+ " + b64(`{"status":"401"}`)}},
			{"", []string{"+ " + b64(`{"status":"401"}`)}},
			{"*", []string{"-ERR Authentication aborted by client."}},
			{"NOOP", []string{"+OK"}},
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c, err := popauth.NewClient(ctx, conn, &popauth.Options{InsecureAllowPlaintext: true})
	require.NoError(t, err)
	defer c.Close()
	err = c.Authenticate(ctx, "a@b.test", oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}))
	require.ErrorIs(t, err, popauth.ErrTooManyChallenges)
	assert.False(t, strings.Contains(err.Error(), "tok\x01"))
	require.NoError(t, c.Noop(ctx), "the session survives the abort")
}

// TestSTLSRefusesDataBeforeHandshake: bytes that arrive after STLS's +OK but
// before the TLS handshake could have been injected by a man in the middle
// (the STARTTLS command-injection class of bugs); the client must not act
// on them.
func TestSTLSRefusesDataBeforeHandshake(t *testing.T) {
	addr := scripted(t, func(int) []step {
		return []step{
			{"", []string{"+OK ready"}},
			{"CAPA", []string{"+OK", "STLS", "."}},
			{"STLS", []string{"+OK Begin TLS\r\n+OK injected"}},
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := popauth.DialStartTLS(ctx, addr, &popauth.Options{Mailbox: "a@b.test", Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})})
	require.ErrorIs(t, err, popauth.ErrMalformedReply)
}
