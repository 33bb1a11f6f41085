package imapauth_test

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// A scripted server checks the exact bytes of the answer to an error challenge: an empty
// line for XOAUTH2 (not go-imap's "="), "AQ==" for OAUTHBEARER, then the tagged NO.
func TestErrorChallengeTranscript(t *testing.T) {
	for _, tc := range []struct{ mech, challenge, want string }{
		{"XOAUTH2", "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=", ""},
		{"OAUTHBEARER", "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=", "AQ=="},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			e := newEnv(t, fakeidp.Options{})
			ln, err := tls.Listen("tcp", "127.0.0.1:0", e.ca.ServerConfig())
			require.NoError(t, err)
			defer ln.Close()
			lines := make(chan []string, 1)
			go func() {
				var got []string
				defer func() { lines <- got }()
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				read := func() string { l, _ := br.ReadString('\n'); got = append(got, l); return l }
				c.Write([]byte("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] ready\r\n"))
				cmd := read()
				tag, _, _ := strings.Cut(cmd, " ")
				c.Write([]byte("+ " + tc.challenge + "\r\n"))
				read()
				c.Write([]byte(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"))
				read() // nothing more should come; EOF when the client closes
			}()
			tok := e.mint(fakeidp.Claims{UPN: alice, Scp: []string{"IMAP.AccessAsUser.All"}})
			_, err = imapauth.DialTLS(ctxT(t), ln.Addr().String(), &imapauth.Options{Token: oauth2.StaticTokenSource(tok),
				Mailbox: alice, Mechanism: tc.mech, TLSConfig: e.tlsConfig()})
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "AUTHENTICATIONFAILED", ae.Code)
			got := <-lines
			require.GreaterOrEqual(t, len(got), 2)
			assert.True(t, strings.Contains(got[0], " AUTHENTICATE "+tc.mech+" "), "initial response with SASL-IR: %q", got[0])
			assert.Equal(t, tc.want+"\r\n", got[1], "answer to the error challenge")
		})
	}
}
