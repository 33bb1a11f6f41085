package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-goroutines", "500", "-v"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	report := out.String()
	for _, p := range []string{"imap", "pop", "smtp", "ews", "eas", "autodiscover", "graph"} {
		if !strings.Contains(report, "PASS "+p) {
			t.Errorf("report lacks a PASS line for %s", p)
		}
	}
	if !strings.Contains(report, "PASS graph (app-only, /users/shared@contoso.test)") {
		t.Errorf("report lacks the app-only Graph check:\n%s", report)
	}
	if strings.Contains(report, "FAIL") {
		t.Errorf("report has a failure:\n%s", report)
	}
	if !strings.Contains(report, "500 goroutines") || !strings.Contains(report, "6 token requests to Entra ID") {
		t.Errorf("cache demo line missing or wrong:\n%s", report)
	}
	if !strings.Contains(report, "SMTP: 3 users, 2 still succeeding with basic auth") || !strings.Contains(report, "IMAP: 1 user, 0 still succeeding with basic auth") {
		t.Errorf("basic-auth report missing or wrong:\n%s", report)
	}
	all := report + errOut.String()
	if strings.Contains(all, "lab-app-secret") || strings.Contains(all, "eyJ") {
		t.Fatalf("output shows a secret or a token:\n%s", all)
	}
	if !strings.Contains(errOut.String(), "AUTHENTICATE") || !strings.Contains(errOut.String(), "Authorization: [REDACTED]") {
		t.Errorf("-v transcript lacks the IMAP exchange or the redacted HTTP requests")
	}
}
