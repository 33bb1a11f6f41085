package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/relay"
)

const benchUser = "bench@example.com"

var benchLab struct {
	once sync.Once
	l    *lab
	size int64
	err  error
}

// bigLab is a Dovecot whose bench@example.com INBOX holds 100 messages of 1 MiB (100 MiB).
func bigLab(b *testing.B) (*lab, int64) {
	benchLab.once.Do(func() {
		body := strings.Repeat(strings.Repeat("0123456789abcdef", 4)+"\r\n", (1<<20)/66)
		var msgs []string
		for i := range 100 {
			m := fmt.Sprintf("From: <carol@example.com>\r\nTo: <%s>\r\nSubject: big %d\r\n\r\n%s", benchUser, i, body)
			msgs = append(msgs, m)
			benchLab.size += int64(len(m))
		}
		benchLab.l, benchLab.err = buildLab(map[string][]string{benchUser: msgs})
	})
	if benchLab.err != nil {
		b.Fatal(benchLab.err)
	}
	return benchLab.l, benchLab.size
}

// fetchAll selects INBOX and reads every message's full body into io.Discard.
func fetchAll(b *testing.B, c *imapclient.Client) int64 {
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	cmd := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	var n int64
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
				k, _ := io.Copy(io.Discard, body.Literal)
				n += k
			}
		}
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkIMAPFetch100MB fetches a 100 MiB mailbox (100 x 1 MiB, BODY.PEEK[]) directly
// from Dovecot (STARTTLS, XOAUTH2) and through the relay (a plaintext loopback client
// with LOGIN; the relay speaks STARTTLS and XOAUTH2 to the same Dovecot).
func BenchmarkIMAPFetch100MB(b *testing.B) {
	if testing.Short() {
		b.Skip("100 MiB mailbox")
	}
	l, size := bigLab(b)
	tok := l.token(b, benchUser)
	b.Run("direct", func(b *testing.B) {
		cfg := l.tls.Clone()
		cfg.ServerName = "localhost"
		c, err := imapauth.DialStartTLS(context.Background(), l.dc.IMAPAddr,
			&imapauth.Options{Mailbox: benchUser, Token: &countingSource{tok: tok}, TLSConfig: cfg})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(size)
		for b.Loop() {
			if n := fetchAll(b, c.Client); n < size {
				b.Fatalf("read %d of %d bytes", n, size)
			}
		}
	})
	b.Run("relay", func(b *testing.B) {
		rn := startRelay(b, l, func(o *relay.Options) {
			o.Accounts[0].Mailbox = benchUser
			o.Accounts[0].Token = &countingSource{tok: tok}
		})
		conn, err := net.Dial("tcp", rn.imap)
		if err != nil {
			b.Fatal(err)
		}
		c := imapclient.New(conn, nil)
		defer c.Close()
		if err := c.WaitGreeting(); err != nil {
			b.Fatal(err)
		}
		if err := c.Login("alice", alicePW).Wait(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			if n := fetchAll(b, c); n < size {
				b.Fatalf("read %d of %d bytes", n, size)
			}
		}
	})
	b.Run("email-oauth2-proxy", func(b *testing.B) {
		addr := startEmailProxy(b, l, benchUser, tok, alicePW)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c := imapclient.New(conn, nil)
		defer c.Close()
		if err := c.WaitGreeting(); err != nil {
			b.Fatal(err)
		}
		if err := c.Login(benchUser, alicePW).Wait(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			if n := fetchAll(b, c); n < size {
				b.Fatalf("read %d of %d bytes", n, size)
			}
		}
	})
}

// BenchmarkIMAPLogin is one IMAP login with a cached token: directly to Dovecot
// (connect, STARTTLS, AUTHENTICATE XOAUTH2, LOGOUT) and through the relay (connect,
// LOGIN with the local password, which the relay checks against its argon2id hash
// before it does the same upstream, LOGOUT). The difference is the latency the relay adds.
func BenchmarkIMAPLogin(b *testing.B) {
	l := newLab(b)
	src := &countingSource{tok: l.token(b, alice)}
	b.Run("direct", func(b *testing.B) {
		cfg := l.tls.Clone()
		cfg.ServerName = "localhost"
		o := &imapauth.Options{Mailbox: alice, Token: src, TLSConfig: cfg, NoProbe: true}
		for b.Loop() {
			c, err := imapauth.DialStartTLS(context.Background(), l.dc.IMAPAddr, o)
			if err != nil {
				b.Fatal(err)
			}
			c.Logout().Wait()
			c.Close()
		}
	})
	b.Run("relay", func(b *testing.B) {
		rn := startRelay(b, l, nil)
		for b.Loop() {
			conn, err := net.Dial("tcp", rn.imap)
			if err != nil {
				b.Fatal(err)
			}
			c := imapclient.New(conn, nil)
			if err := c.WaitGreeting(); err != nil {
				b.Fatal(err)
			}
			if err := c.WaitGreeting(); err != nil {
				b.Fatal(err)
			}
			if err := c.Login("alice", alicePW).Wait(); err != nil {
				b.Fatal(err)
			}
			c.Logout().Wait()
			c.Close()
		}
	})
	b.Run("email-oauth2-proxy", func(b *testing.B) {
		addr := startEmailProxy(b, l, alice, src.tok, alicePW)
		for b.Loop() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c := imapclient.New(conn, nil)
			if err := c.WaitGreeting(); err != nil {
				b.Fatal(err)
			}
			if err := c.Login(alice, alicePW).Wait(); err != nil {
				b.Fatal(err)
			}
			c.Logout().Wait()
			c.Close()
		}
	})
}

// pyEncrypt encrypts TOK for email-oauth2-proxy's cache the way its Cryptographer does:
// Fernet with a key from PBKDF2-HMAC-SHA256 (1,200,000 iterations) of the login password.
const pyEncrypt = `
import base64, os
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
salt = os.urandom(16)
key = base64.urlsafe_b64encode(PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=1200000).derive(os.environ["PW"].encode()))
print(base64.b64encode(salt).decode())
print(Fernet(key).encrypt(os.environ["TOK"].encode()).decode())
`

// startEmailProxy starts email-oauth2-proxy (the emailproxy.py named by the environment
// variable MAILAUTH_EMAILPROXY; the benchmark is skipped without it) in front of the lab's
// implicit-TLS IMAP, with tok already in its encrypted cache for user and password, and
// returns its local address.
func startEmailProxy(b *testing.B, l *lab, user, tok, password string) string {
	script := os.Getenv("MAILAUTH_EMAILPROXY")
	if script == "" {
		b.Skip("set MAILAUTH_EMAILPROXY to the path of email-oauth2-proxy's emailproxy.py")
	}
	dir := b.TempDir()
	enc := exec.Command("python3", "-c", pyEncrypt)
	enc.Env = append(os.Environ(), "PW="+password, "TOK="+tok)
	out, err := enc.Output()
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Fields(string(out))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	_, upPort, _ := net.SplitHostPort(l.dc.IMAPSAddr)
	cfg := fmt.Sprintf("[IMAP-%s]\nserver_address = 127.0.0.1\nserver_port = %s\nlocal_address = 127.0.0.1\n\n"+
		"[%s]\ntoken_url = https://127.0.0.1:9/token\noauth2_scope = https://outlook.office365.com/IMAP.AccessAsUser.All\n"+
		"client_id = bench\noauth2_flow = client_credentials\naccess_token = %s\naccess_token_expiry = %d\n"+
		"token_salt = %s\ntoken_iterations = 1200000\n", port, upPort, user, lines[1], time.Now().Add(time.Hour).Unix(), lines[0])
	cfgFile := filepath.Join(dir, "emailproxy.config")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(caFile, l.ca.CertPEM(), 0o600)
	cmd := exec.Command("python3", script, "--no-gui", "--config-file", cfgFile, "--log-file", filepath.Join(dir, "log"))
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if b.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			dl := l.dc.Log()
			b.Logf("email-oauth2-proxy log:\n%s\nDovecot log:\n%s", log, dl[max(0, len(dl)-3000):])
		}
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i > 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			b.Fatalf("email-oauth2-proxy did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
