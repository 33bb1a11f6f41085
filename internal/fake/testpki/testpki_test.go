package testpki

import (
	"crypto/tls"
	"io"
	"testing"
)

func TestHandshake(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.ServerConfig("mail.contoso.test", "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.WriteString(c, "ok")
				c.Close()
			}()
		}
	}()
	for _, name := range []string{"mail.contoso.test", "127.0.0.1"} {
		cfg := ca.ClientConfig()
		cfg.ServerName = name
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "ok" {
			t.Fatalf("%s: read %q", name, b)
		}
	}
	cfg := ca.ClientConfig()
	cfg.ServerName = "other.test"
	if c, err := tls.Dial("tcp", ln.Addr().String(), cfg); err == nil {
		c.Close()
		t.Fatal("handshake for a name not in the certificate succeeded")
	}
}

func TestIssuePEM(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := ca.Issue()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(c, k); err != nil {
		t.Fatal(err)
	}
	if len(ca.CertPEM()) == 0 {
		t.Fatal("empty CA PEM")
	}
}
