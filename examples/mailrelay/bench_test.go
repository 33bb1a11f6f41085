package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// TestMain lets the test binary run as mailrelay itself (MAILRELAY_CHILD=1, the
// arguments one per line in MAILRELAY_ARGS), so a benchmark can measure the memory of
// a relay process that holds nothing but sessions.
func TestMain(m *testing.M) {
	if os.Getenv("MAILRELAY_CHILD") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		code := run(ctx, strings.Split(os.Getenv("MAILRELAY_ARGS"), "\n"), os.Stdin, os.Stdout, os.Stderr, nil)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// fakeUpstream is an IMAP server with STARTTLS that accepts any XOAUTH2 login and then
// keeps the session open, answering nothing: an idle mailbox.
func fakeUpstream(tb testing.TB, cfg *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var conn net.Conn = c
				br := bufio.NewReader(conn)
				conn.Write([]byte("* OK ready\r\n"))
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					tag, rest, _ := strings.Cut(strings.TrimSpace(l), " ")
					switch {
					case rest == "STARTTLS":
						conn.Write([]byte(tag + " OK go\r\n"))
						tc := tls.Server(c, cfg)
						if tc.Handshake() != nil {
							return
						}
						conn, br = tc, bufio.NewReader(tc)
					case rest == "CAPABILITY":
						conn.Write([]byte("* CAPABILITY IMAP4rev1 IDLE AUTH=XOAUTH2\r\n" + tag + " OK done\r\n"))
					case rest == "AUTHENTICATE XOAUTH2":
						conn.Write([]byte("+ \r\n"))
						if _, err := br.ReadString('\n'); err != nil {
							return
						}
						conn.Write([]byte(tag + " OK logged in\r\n"))
					case rest == "LOGOUT":
						return
					case strings.HasPrefix(rest, "LIST "): // the relay's probe after login
						conn.Write([]byte(`* LIST (\Noselect) "/" ""` + "\r\n" + tag + " OK listed\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func rssBytes(tb testing.TB, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Skip("no /proc: ", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// BenchmarkIdleSessionMemory opens 1,000 relayed IMAP sessions (local LOGIN, upstream
// STARTTLS and XOAUTH2) that then stay idle, and reports the growth of the relay
// process's resident memory per session (B/session). The relay runs in its own process
// (this test binary as mailrelay), so the clients and the upstream are not counted.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const sessions = 1000
	ca, err := testpki.New()
	if err != nil {
		b.Fatal(err)
	}
	up := fakeUpstream(b, ca.ServerConfig("127.0.0.1", "localhost"))
	dir := b.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o600)
	tokFile := filepath.Join(dir, "tok")
	os.WriteFile(tokFile, []byte("opaque-upstream-token"), 0o600)
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	cfgFile := filepath.Join(dir, "relay.yaml")
	os.WriteFile(cfgFile, []byte("plaintext: true\naccess-token-file: "+tokFile+"\nca-file: "+caFile+
		"\naccounts:\n  - user: u\n    password_hash: '"+string(hash)+"'\n    mailbox: u@example.com\n"), 0o600)

	for b.Loop() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MAILRELAY_CHILD=1", "MAILRELAY_ARGS="+strings.Join([]string{
			"-config", cfgFile, "-imap-listen", addr, "-imap-upstream", up, "-stats-interval", "0"}, "\n"))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // after a failure too
		login := func() net.Conn {
			var c net.Conn
			for i := 0; ; i++ {
				if c, err = net.Dial("tcp", addr); err == nil {
					break
				}
				if i > 100 {
					b.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			br := bufio.NewReader(c)
			if _, err := br.ReadString('\n'); err != nil {
				b.Fatal(err)
			}
			c.Write([]byte("a LOGIN u pw\r\n"))
			l, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, "a OK") {
				b.Fatalf("login: %q %v", l, err)
			}
			return c
		}
		var conns []net.Conn
		conns = append(conns, login()) // warm up: the first session pays for one-time setup
		time.Sleep(500 * time.Millisecond)
		before := rssBytes(b, cmd.Process.Pid)
		for range sessions {
			conns = append(conns, login())
		}
		time.Sleep(500 * time.Millisecond)
		after := rssBytes(b, cmd.Process.Pid)
		b.ReportMetric(float64(after-before)/sessions, "B/session")
		for _, c := range conns {
			c.Close()
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
}
