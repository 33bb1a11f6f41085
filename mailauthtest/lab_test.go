package mailauthtest_test

import (
	"context"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/smtpauth"
	"github.com/modernauth/mailauth/tokencache"
)

// TestAppOnlyIMAPAndSMTP is the service of a nightly job: one app-only token source reads
// a shared mailbox over IMAP and sends from it over SMTP, against the public lab.
func TestAppOnlyIMAPAndSMTP(t *testing.T) {
	lab := mailauthtest.New(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	app, err := cache.AppOnly(lab.AppOnlyConfig())
	if err != nil {
		t.Fatal(err)
	}
	src := app.Source(lab.Cloud().AppOnlyScope())

	// Read: newest subjects of the shared mailbox.
	if err := lab.Deliver(mailauthtest.SharedMailbox, []byte("From: carol@contoso.test\r\nTo: shared@contoso.test\r\nSubject: invoice 42\r\n\r\nPlease pay.\r\n")); err != nil {
		t.Fatal(err)
	}
	c, err := imapauth.DialStartTLS(ctx, lab.IMAPAddr(), &imapauth.Options{Token: src, Mailbox: mailauthtest.SharedMailbox, TLSConfig: lab.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	mbox, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if mbox.NumMessages != 4 {
		t.Errorf("INBOX has %d messages, want the lab's 3 and the delivered one", mbox.NumMessages)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(mbox.NumMessages), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Envelope.Subject != "invoice 42" {
		t.Errorf("newest message: %+v", msgs)
	}
	if !c.Identity().AppOnly() || c.Identity().AppID != mailauthtest.ClientID {
		t.Errorf("IMAP identity %v, want the lab app", c.Identity())
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
	c.Close()

	// Send: from the shared mailbox, through the same source.
	msg := "From: shared@contoso.test\r\nTo: bob@contoso.test\r\nSubject: nightly report\r\n\r\nAll done.\r\n"
	opts := &smtpauth.Options{Token: src, Mailbox: mailauthtest.SharedMailbox, TLSConfig: lab.TLSConfig()}
	if err := smtpauth.SendMail(ctx, lab.SMTPAddr(), opts, mailauthtest.SharedMailbox, []string{mailauthtest.OtherUser}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	sent := lab.Sent()
	if len(sent) != 1 {
		t.Fatalf("lab.Sent() = %d messages, want 1", len(sent))
	}
	s := sent[0]
	if s.Protocol != "SMTP" || s.From != mailauthtest.SharedMailbox || len(s.To) != 1 || s.To[0] != mailauthtest.OtherUser || s.Subject != "nightly report" {
		t.Errorf("sent: %+v", s)
	}
	if m, err := mail.ReadMessage(strings.NewReader(string(s.Data))); err != nil || m.Header.Get("Subject") != "nightly report" {
		t.Errorf("sent data: %v %q", err, s.Data)
	}
	// One token served IMAP and SMTP.
	if n := lab.TokenRequests(); n != 1 {
		t.Errorf("token requests: %d, want 1", n)
	}
}

// TestWrongSecret: an app with another secret gets no token, and the error says so.
func TestWrongSecret(t *testing.T) {
	lab := mailauthtest.New(t, &mailauthtest.Options{ClientSecret: "rotated-secret-0001"})
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	cfg := lab.AppOnlyConfig()
	cfg.Credential = tokencache.ClientSecret("old-secret")
	app, err := cache.AppOnly(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.Source(lab.Cloud().AppOnlyScope()).TokenContext(t.Context())
	if err == nil {
		t.Fatal("a wrong secret got a token")
	}
	if strings.Contains(err.Error(), "old-secret") || strings.Contains(err.Error(), "rotated-secret") {
		t.Errorf("the error shows a secret: %v", err)
	}
}

func TestDelegatedSignIn(t *testing.T) {
	lab := mailauthtest.New(t, nil)
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	for _, who := range []string{mailauthtest.User, mailauthtest.OtherUser} {
		u, err := lab.SignIn(t.Context(), cache, who)
		if err != nil {
			t.Fatal(err)
		}
		c, err := imapauth.DialStartTLS(t.Context(), lab.IMAPAddr(), &imapauth.Options{Token: u.Source(lab.Cloud().DelegatedScopes("imap")...), Mailbox: who, TLSConfig: lab.TLSConfig()})
		if err != nil {
			t.Fatal(err)
		}
		if c.Identity().UPN != who {
			t.Errorf("signed in as %v, want %s", c.Identity(), who)
		}
		c.Close()
	}
}

func TestDialContextStaysLocal(t *testing.T) {
	lab := mailauthtest.New(t, nil)
	if _, err := lab.DialContext(t.Context(), "tcp", "example.com:443"); err == nil || !strings.Contains(err.Error(), "not a lab host") {
		t.Errorf("dial of an outside name: %v", err)
	}
	conn, err := lab.DialContext(t.Context(), "tcp", lab.Cloud().AutodiscoverHost+":443")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mailauthtest.Start(ctx, nil); err == nil {
		t.Fatal("Start with a canceled context succeeded")
	}
}
