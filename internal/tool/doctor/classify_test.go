package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/ews"
)

func TestErrorClass(t *testing.T) {
	dial := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://login.microsoftonline.com/t/oauth2/v2.0/token", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{dial(&net.DNSError{Err: "no such host", Name: "login.microsoftonline.com", IsNotFound: true}), ClassDNS},
		{errors.New("Post https://login.microsoftonline.com/t/oauth2/v2.0/token: lookup login.microsoftonline.com: no such host"), ClassDNS},
		{dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), ClassRefused},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ClassRefused},
		{fmt.Errorf("imapauth: %w", context.DeadlineExceeded), ClassTimeout},
		{errors.New("request timed out"), ClassTimeout},
		{fmt.Errorf("handshake: %w", x509.UnknownAuthorityError{}), ClassTLS},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), ClassTLS},
		{&ews.HTTPError{Op: "GetFolder", StatusCode: 403}, "HTTP 403"},
		{errors.New("something else"), ClassOther},
	} {
		if got := ErrorClass(c.err); got != c.want {
			t.Errorf("ErrorClass(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// A network failure names the address, the class and the flag that sets the address.
func TestExplainNetworkNamesAddress(t *testing.T) {
	tg := Target{Cloud: cloud.Global, IMAPAddr: "imap.example:993", EWSURL: "https://ews.example/EWS/Exchange.asmx"}
	r := explainOther(tg, IMAP, &net.DNSError{Err: "no such host", Name: "imap.example", IsNotFound: true})
	if r.Tried != "imap.example:993" || r.ErrorClass != ClassDNS || !strings.Contains(r.Cause, "imap.example:993") ||
		!strings.Contains(r.Cause, "DNS") || !strings.Contains(r.Fix, "-imap-addr") {
		t.Fatalf("%+v", r)
	}
	r = explainOther(tg, EWS, fmt.Errorf("ews: %w", context.DeadlineExceeded))
	if r.Tried != tg.EWSURL || r.ErrorClass != ClassTimeout || !strings.Contains(r.Cause, "ews.example") || !strings.Contains(r.Fix, "-ews-url") {
		t.Fatalf("%+v", r)
	}
}
