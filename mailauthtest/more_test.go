package mailauthtest_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/smtpauth"
	"github.com/modernauth/mailauth/tokencache"
)

// TestDeliverAndSentEveryProtocol delivers one message and finds it over EWS, ActiveSync
// and Graph, then sends over each and finds every message in Sent.
func TestDeliverAndSentEveryProtocol(t *testing.T) {
	lab := mailauthtest.New(t, nil)
	ctx := t.Context()
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	alice, err := lab.SignIn(ctx, cache, mailauthtest.User)
	if err != nil {
		t.Fatal(err)
	}
	tr := lab.HTTPClient().Transport
	raw := "From: Carol <carol@contoso.test>\r\nTo: alice@contoso.test\r\nSubject: delivered everywhere\r\nMessage-ID: <d1@contoso.test>\r\n\r\nHello.\r\n"
	if err := lab.Deliver(mailauthtest.User, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := lab.Deliver("nobody@contoso.test", []byte(raw)); err == nil {
		t.Error("Deliver to an unknown mailbox succeeded")
	}
	if err := lab.Deliver(mailauthtest.User, []byte("not a message")); err == nil {
		t.Error("Deliver of a broken message succeeded")
	}

	ec, err := ews.New(&ews.Options{URL: lab.EWSURL(), Token: alice.Source(lab.Cloud().DelegatedScopes(cloud.EWS)...), Mailbox: mailauthtest.User, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	var ewsSubjects []string
	for it, err := range ec.FindItems(ctx, ews.Inbox, nil) {
		if err != nil {
			t.Fatal(err)
		}
		ewsSubjects = append(ewsSubjects, it.Subject)
	}
	if !slices.Contains(ewsSubjects, "delivered everywhere") {
		t.Errorf("EWS inbox lacks the delivered message: %v", ewsSubjects)
	}

	gc, err := graph.New(&graph.Options{URL: lab.GraphURL(), Token: alice.Source(lab.Cloud().GraphDelegatedScopes()...), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	var graphSubjects []string
	for m, err := range gc.Messages(ctx, graph.Inbox, nil) {
		if err != nil {
			t.Fatal(err)
		}
		graphSubjects = append(graphSubjects, m.Subject)
	}
	if !slices.Contains(graphSubjects, "delivered everywhere") {
		t.Errorf("Graph inbox lacks the delivered message: %v", graphSubjects)
	}

	ac, err := eas.New(&eas.Options{URL: lab.EASURL(), Mailbox: mailauthtest.User, DeviceID: "LabTest01", Token: alice.Source(lab.Cloud().DelegatedScopes(cloud.EAS)...), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Folders(ctx); err != nil {
		t.Fatal(err)
	}
	st := ac.State()
	inbox, _ := st.Folder("Inbox")
	res, err := ac.SyncFolder(ctx, inbox.ServerID, &eas.SyncOptions{WindowSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range res.Added {
		found = found || m.Email != nil && m.Email.Subject == "delivered everywhere"
	}
	if !found {
		t.Errorf("ActiveSync inbox lacks the delivered message (%d added)", len(res.Added))
	}

	// Send over EWS, ActiveSync and Graph.
	if err := ec.Send(ctx, &ews.Message{Subject: "via ews", Body: "b", To: []string{mailauthtest.OtherUser}}); err != nil {
		t.Fatal(err)
	}
	if err := ac.SendMail(ctx, []byte("From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: via eas\r\n\r\nb\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	if err := gc.SendMIME(ctx, strings.NewReader("From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: via graph\r\n\r\nb\r\n")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range lab.Sent() {
		got = append(got, s.Protocol+" "+s.Mailbox+" "+strings.Join(s.To, ",")+" "+s.Subject)
	}
	want := []string{
		"EWS alice@contoso.test bob@contoso.test via ews",
		"ActiveSync alice@contoso.test bob@contoso.test via eas",
		"Graph alice@contoso.test bob@contoso.test via graph",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Sent:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRefusals: the Fail* knobs answer as Exchange Online does, and the packages' typed
// errors see it.
func TestRefusals(t *testing.T) {
	lab := mailauthtest.New(t, nil)
	ctx := t.Context()
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	app, err := cache.AppOnly(lab.AppOnlyConfig())
	if err != nil {
		t.Fatal(err)
	}
	src := app.Source(lab.Cloud().AppOnlyScope())

	lab.FailNextIMAPAuth(2) // the first try and the retry with a fresh token
	_, err = imapauth.DialStartTLS(ctx, lab.IMAPAddr(), &imapauth.Options{Token: src, Mailbox: mailauthtest.SharedMailbox, TLSConfig: lab.TLSConfig()})
	var ae *mailauth.AuthError
	if !errors.As(err, &ae) {
		t.Errorf("IMAP after FailNextIMAPAuth: %v", err)
	}

	lab.FailNextSMTPAuth(1)
	err = smtpauth.SendMail(ctx, lab.SMTPAddr(), &smtpauth.Options{Token: src, Mailbox: mailauthtest.SharedMailbox, TLSConfig: lab.TLSConfig()},
		mailauthtest.SharedMailbox, []string{mailauthtest.OtherUser}, strings.NewReader("Subject: x\r\n\r\ny\r\n"))
	if !errors.Is(err, smtpauth.ErrSMTPAuthDisabled) {
		t.Errorf("SMTP after FailNextSMTPAuth: %v", err)
	}

	lab.DenyEWSImpersonation(true)
	ec, err := ews.New(&ews.Options{URL: lab.EWSURL(), Token: src, Mailbox: mailauthtest.SharedMailbox, AppOnly: true, Transport: lab.HTTPClient().Transport})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range ec.FindItems(ctx, ews.Inbox, nil) {
		if err == nil || !strings.Contains(err.Error(), "Impersonat") {
			t.Errorf("EWS with impersonation denied: %v", err)
		}
		break
	}
}

func TestSettings(t *testing.T) {
	lab := mailauthtest.New(t, nil)
	dir := t.TempDir()
	s, err := lab.Settings(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{s.CAFile, s.SecretFile} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 || filepath.Dir(f) != dir {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(s.SecretFile); string(b) != lab.ClientSecret() {
		t.Error("the secret file does not hold the secret")
	}
	env := strings.Join(s.Env(), "\n")
	if strings.Contains(env, lab.ClientSecret()) {
		t.Error("Env holds the secret")
	}
	for _, want := range []string{"MAILAUTH_AUTHORITY_HOST=" + lab.AuthorityHost(), "MAILAUTH_TENANT=contoso.test", "MAILAUTH_IMAP_ADDR=" + lab.IMAPAddr(),
		"MAILAUTH_POP_ADDR=" + lab.POPStartTLSAddr(), "MAILAUTH_GRAPH_URL=" + lab.GraphURL()} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %s", want)
		}
	}
	if lab.Authority() != lab.AuthorityHost()+"/"+mailauthtest.Tenant || lab.Cloud().AuthorityHost != lab.AuthorityHost() {
		t.Errorf("authority %s, cloud %s", lab.Authority(), lab.Cloud().AuthorityHost)
	}
	if !strings.Contains(lab.String(), lab.AuthorityHost()) || strings.Contains(lab.String(), lab.ClientSecret()) {
		t.Errorf("String: %s", lab)
	}
	if !strings.Contains(string(lab.CAPEM()), "BEGIN CERTIFICATE") || lab.CertPool() == nil {
		t.Error("no CA")
	}
}
