package graphtest

import (
	"testing"
	"time"
)

func TestParseSignInFilter(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	smtp := &SignIn{Time: at, User: "a@contoso.test", ClientApp: "Authenticated SMTP"}
	imapOld := &SignIn{Time: at.AddDate(0, 0, -40), User: "o'brien@contoso.test", ClientApp: "IMAP4", ErrorCode: 50126}
	browser := &SignIn{Time: at, ClientApp: "Browser"}
	for _, c := range []struct {
		filter string
		want   [3]bool
	}{
		{"", [3]bool{true, true, true}},
		{"createdDateTime ge 2026-11-06T00:00:00Z", [3]bool{true, false, true}},
		{"createdDateTime ge 2026-11-06T00:00:00Z and (clientAppUsed eq 'Authenticated SMTP' or clientAppUsed eq 'IMAP4')", [3]bool{true, false, false}},
		{"clientAppUsed eq 'IMAP4' or clientAppUsed eq 'authenticated smtp' and createdDateTime lt 2026-01-01T00:00:00Z", [3]bool{false, true, false}},
		{"userPrincipalName eq 'o''brien@contoso.test'", [3]bool{false, true, false}},
		{"status/errorCode ne 0", [3]bool{false, true, false}},
		{"(clientAppUsed ne 'Browser')", [3]bool{true, true, false}},
	} {
		p, err := parseSignInFilter(c.filter)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		got := [3]bool{p(smtp), p(imapOld), p(browser)}
		if got != c.want {
			t.Errorf("%q: got %v, want %v", c.filter, got, c.want)
		}
	}
	for _, bad := range []string{"clientAppUsed eq IMAP4", "createdDateTime ge '2026-01-01'", "(clientAppUsed eq 'x'", "clientAppUsed eq 'x", "foo eq 'x'",
		"clientAppUsed startswith 'x'", "clientAppUsed eq 'x' and", "createdDateTime ge yesterday", "status/errorCode eq 'x'"} {
		if _, err := parseSignInFilter(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
