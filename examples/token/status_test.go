package main

import (
	"strings"
	"testing"
	"time"
)

// TestStatusPrintsSignInAge: `token status` prints the sign-in age and what
// ends it; before login it says the account is not signed in.
func TestStatusPrintsSignInAge(t *testing.T) {
	_, args := setup(t, time.Hour)
	if r := runHelper(t, nil, append([]string{"status"}, args...)...); r.code != 1 || !strings.Contains(r.stdout, "not signed in") {
		t.Fatalf("status before login: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runHelper(t, nil, append([]string{"login"}, args...)...); r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	r := runHelper(t, nil, append([]string{"status"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "signed in less than a minute ago") || !strings.Contains(r.stdout, "90-day inactivity limit") {
		t.Fatalf("status: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	t.Log(r.stdout)
}
