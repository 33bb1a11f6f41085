package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/modernauth/mailauth/internal/fake/lab"
)

// TestPrintsSignInAge: a delegated run prints the account's sign-in age and
// what will end it.
func TestPrintsSignInAge(t *testing.T) {
	f := newFixture(t)
	code, out, errOut := f.run(t, "-authority-host", f.lab.IdP.URL(), "-tenant", lab.Tenant, "-client-id", lab.PublicClientID,
		"-user", lab.User, "-mailbox", lab.User, "-device-code", "-cache", filepath.Join(f.dir, "cache"), "-protocols", "imap")
	if !strings.Contains(errOut, "sign-in: "+lab.User+": signed in less than a minute ago") || !strings.Contains(errOut, "90-day inactivity limit") {
		t.Fatalf("exit %d, no sign-in age:\n%s\n%s", code, out, errOut)
	}
}
