package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/tokencache"
)

// Error classes of Result.ErrorClass: what kind of failure lay under a check's failure.
const (
	ClassDNS      = "DNS"
	ClassRefused  = "connection refused"
	ClassReset    = "connection reset"
	ClassTimeout  = "timeout"
	ClassTLS      = "TLS"
	ClassAuth     = "authentication refused"
	ClassProtocol = "protocol error"
	ClassSettings = "bad settings"
	ClassClaims   = "token claims"
	ClassIdP      = "Entra ID refused"
	ClassNetwork  = "network"
	ClassOther    = "error"
)

// AddrFlag names mailcheck's flag that sets where each check connects.
var AddrFlag = map[string]string{
	IMAP:  "-imap-addr",
	POP:   "-pop-addr",
	SMTP:  "-smtp-addr",
	EWS:   "-ews-url",
	EAS:   "-eas-url",
	Graph: "-graph-url",
}

// ErrorClass names the kind of failure err is: DNS, connection refused, timeout, TLS,
// "HTTP <status>", authentication refused, and so on. It looks at types first and at the
// text last, for errors that were flattened to text on the way (the token cache keeps only
// the text of a transport failure, so that no request is retained).
func ErrorClass(err error) string {
	if err == nil {
		return ""
	}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
		idpErr  *tokencache.IdPError
		ewsErr  *ews.HTTPError
		easErr  *eas.HTTPError
		grErr   *graph.Error
		ne      net.Error
	)
	switch {
	case errors.As(err, &dnsErr):
		return ClassDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET):
		return ClassReset
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invErr),
		errors.As(err, &recErr), errors.As(err, &alert):
		return ClassTLS
	case errors.As(err, &ewsErr):
		return httpClass(ewsErr.StatusCode)
	case errors.As(err, &easErr):
		return httpClass(easErr.StatusCode)
	case errors.As(err, &grErr):
		return httpClass(grErr.StatusCode)
	case errors.As(err, &idpErr) && idpErr.StatusCode != 0:
		return httpClass(idpErr.StatusCode)
	case errors.As(err, new(*mailauth.MailboxAccessError)), errors.As(err, new(*mailauth.AuthError)):
		return ClassAuth
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	}
	s := strings.ToLower(err.Error())
	switch {
	case strings.Contains(s, "no such host"), strings.Contains(s, "server misbehaving"), strings.Contains(s, "lookup "):
		return ClassDNS
	case strings.Contains(s, "connection refused"):
		return ClassRefused
	case strings.Contains(s, "connection reset"):
		return ClassReset
	case strings.Contains(s, "timeout"), strings.Contains(s, "timed out"), strings.Contains(s, "deadline exceeded"):
		return ClassTimeout
	case strings.Contains(s, "x509:"), strings.Contains(s, "tls:"), strings.Contains(s, "certificate"), strings.Contains(s, "tls handshake"):
		return ClassTLS
	case strings.Contains(s, "network is unreachable"), strings.Contains(s, "no route to host"):
		return ClassNetwork
	case errors.As(err, &idpErr):
		return ClassNetwork // no reply from the identity provider
	case errors.As(err, new(*url.Error)), errors.As(err, new(*net.OpError)):
		return ClassNetwork
	}
	return ClassOther
}

func httpClass(status int) string { return fmt.Sprintf("HTTP %d", status) }

// networkClass reports whether class means the server was never reached.
func networkClass(class string) bool {
	switch class {
	case ClassDNS, ClassRefused, ClassReset, ClassTimeout, ClassTLS, ClassNetwork:
		return true
	}
	return false
}

// hostOf returns the host (and port) of an address or URL.
func hostOf(addrOrURL string) string {
	if u, err := url.Parse(addrOrURL); err == nil && u.Host != "" {
		return u.Host
	}
	return addrOrURL
}

// explainNetwork describes a failure to reach tried (an address or URL) for proto, whose
// address flag is flag ("" when there is none).
func explainNetwork(proto, tried, class string, err error) Result {
	name := strings.ToUpper(proto)
	where := "check " + AddrFlag[proto]
	if AddrFlag[proto] == "" {
		where = "check the address"
	}
	var cause, fix string
	switch class {
	case ClassDNS:
		cause = fmt.Sprintf("cannot find the %s server %s: the host name does not resolve (DNS)", name, hostOf(tried))
		fix = where + " (the host name) and this machine's DNS and network"
	case ClassRefused:
		cause = fmt.Sprintf("cannot connect to the %s server at %s: connection refused (nothing listens on that port)", name, hostOf(tried))
		fix = where + " (host and port) and that the protocol is enabled on the server"
	case ClassReset:
		cause = fmt.Sprintf("the %s server at %s closed the connection (connection reset)", name, hostOf(tried))
		fix = where + "; a firewall or proxy may cut the connection, or the port expects another TLS mode"
	case ClassTimeout:
		cause = fmt.Sprintf("no answer from the %s server at %s in time (timeout)", name, hostOf(tried))
		fix = where + " (host and port) and that a firewall lets the connection through; raise -timeout on a slow link"
	case ClassTLS:
		cause = fmt.Sprintf("TLS with the %s server at %s failed (TLS): %s", name, hostOf(tried), firstLine(rootText(err)))
		fix = "if the server's certificate is signed by a private CA, pass that CA with -ca-file; otherwise " + where + " (an implicit-TLS port is 993, 995 or 465)"
	default:
		cause = fmt.Sprintf("cannot reach the %s server at %s (network): %s", name, hostOf(tried), firstLine(rootText(err)))
		fix = where + " and this machine's network"
	}
	r := fail(cause, fix, err)
	r.Tried, r.ErrorClass = tried, class
	return r
}

func rootText(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
