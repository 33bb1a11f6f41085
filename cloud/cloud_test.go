package cloud

import (
	"slices"
	"strings"
	"testing"
)

func TestByName(t *testing.T) {
	for name, want := range map[string]Cloud{
		"global": Global, "usgov": USGov, "usgovdod": USGovDoD, "china": China,
		"GCCHigh": USGov, "dod": USGovDoD, "21vianet": China,
	} {
		got, err := ByName(name)
		if err != nil || got != want {
			t.Errorf("ByName(%q) = %q, %v; want %q", name, got.Name, err, want.Name)
		}
	}
	if _, err := ByName("mars"); err == nil {
		t.Error("ByName(mars) succeeded")
	}
}

func TestScopes(t *testing.T) {
	if got := Global.AppOnlyScope(); got != "https://outlook.office365.com/.default" {
		t.Errorf("AppOnlyScope = %q", got)
	}
	want := map[Protocol]string{
		IMAP: "IMAP.AccessAsUser.All", POP: "POP.AccessAsUser.All", SMTP: "SMTP.Send",
		EWS: "EWS.AccessAsUser.All", EAS: "EAS.AccessAsUser.All",
	}
	for _, c := range []Cloud{Global, USGov, USGovDoD, China} {
		for _, p := range Protocols() {
			s := c.DelegatedScopes(p)
			if len(s) != 2 || s[1] != "offline_access" || s[0] != c.Resource+"/"+want[p] {
				t.Errorf("%s %s: DelegatedScopes = %v", c.Name, p, s)
			}
		}
		if !strings.HasPrefix(c.AuthorityHost, "https://") || !strings.HasPrefix(c.EWSURL, "https://") {
			t.Errorf("%s: endpoints must be https", c.Name)
		}
	}
}

func TestOverride(t *testing.T) {
	c := Global
	c.AuthorityHost = "https://127.0.0.1:8443/"
	if got := c.Authority("t1"); got != "https://127.0.0.1:8443/t1" {
		t.Errorf("Authority = %q", got)
	}
	if Global.AuthorityHost != "https://login.microsoftonline.com" {
		t.Error("changing a copy changed Global")
	}
}

func TestHosts(t *testing.T) {
	h := Global.Hosts()
	for _, want := range []string{"outlook.office365.com", "smtp.office365.com", "autodiscover-s.outlook.com"} {
		if !slices.Contains(h, want) {
			t.Errorf("Hosts() = %v, missing %s", h, want)
		}
	}
	if len(h) != 3 {
		t.Errorf("Hosts() = %v, want 3 distinct hosts", h)
	}
	if got := Global.IMAPAddr(); got != "outlook.office365.com:993" {
		t.Errorf("IMAPAddr = %q", got)
	}
}
