// Package interop holds the tests that prove imapauth, popauth and smtpauth
// against a real server nobody on this project wrote: Dovecot 2.3 with its
// oauth2 passdb validating tokens minted by internal/fake/fakeidp. The server is
// started per test by internal/interop/dovecot on loopback ports.
//
// The tests skip when Dovecot is not installed and fail instead when
// MAILAUTH_REQUIRE_INTEROP=1. The package has no non-test code.
package interop
