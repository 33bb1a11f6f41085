package cli

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// guidRE matches a GUID such as an application (client) id or a tenant id.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// domainRE matches a DNS name of two or more labels.
var domainRE = regexp.MustCompile(`^(?i)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$`)

// IsGUID reports whether s is shaped like a GUID.
func IsGUID(s string) bool { return guidRE.MatchString(s) }

// CheckAddress checks that v, the value of flag name, is one bare mail address
// (user@domain), as net/mail parses it.
func CheckAddress(name, v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil {
		return fmt.Errorf("%s %q is not a mail address (%v); give the bare address, like shared@contoso.com", name, v, err)
	}
	if a.Address != strings.TrimSpace(v) || a.Name != "" {
		return fmt.Errorf("%s %q is not a bare mail address; give only the address, like %s", name, v, a.Address)
	}
	return nil
}

// CheckTenant checks -tenant: a tenant id (a GUID), a verified domain, or one of Entra's
// multi-tenant names (organizations, common, consumers; delegated sign-in only).
func CheckTenant(v string) error {
	switch strings.ToLower(v) {
	case "common", "organizations", "consumers":
		return nil
	}
	if IsGUID(v) || domainRE.MatchString(v) {
		return nil
	}
	return fmt.Errorf("-tenant %q is neither a tenant id (a GUID, the Directory (tenant) ID of the app registration) nor a domain name such as contoso.onmicrosoft.com", v)
}

// CheckHostPort checks an address flag: HOST:PORT with a numeric port.
func CheckHostPort(name, v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s %q is not HOST:PORT (%v), e.g. outlook.office365.com:993", name, v, errText(err))
	}
	if host == "" {
		return fmt.Errorf("%s %q has no host, e.g. outlook.office365.com:993", name, v)
	}
	if n, err := parsePort(port); err != nil || n == 0 {
		return fmt.Errorf("%s %q has no valid port number (1-65535)", name, v)
	}
	return nil
}

// CheckURL checks a URL flag: an absolute http or https URL.
func CheckURL(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s %q is not an absolute https URL, e.g. https://outlook.office365.com/EWS/Exchange.asmx", name, v)
	}
	return nil
}

func parsePort(s string) (int, error) {
	n := 0
	if s == "" || len(s) > 5 {
		return 0, errors.New("bad port")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// errText is an error's text without Go syntax.
func errText(err error) string {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return ae.Err
	}
	return err.Error()
}

// Check validates the common flags before Setup: address syntax of -mailbox and -user,
// the tenant's shape, -authority-host. It returns warnings (a client id that is not
// GUID-shaped is allowed, since test identity providers use other ids) and the first
// error, which is a usage error.
func (f *Flags) Check() (warnings []string, err error) {
	if f.Mailbox != "" {
		if err := CheckAddress("-mailbox", f.Mailbox); err != nil {
			return nil, err
		}
	}
	if f.User != "" {
		if err := CheckAddress("-user", f.User); err != nil {
			return nil, err
		}
	}
	if f.Tenant != "" {
		if err := CheckTenant(f.Tenant); err != nil {
			return nil, err
		}
	}
	if f.AuthorityHost != "" {
		if err := CheckURL("-authority-host", f.AuthorityHost); err != nil {
			return nil, err
		}
	}
	if f.ClientID != "" && !IsGUID(f.ClientID) {
		warnings = append(warnings, fmt.Sprintf("warning: -client-id %q is not shaped like an application (client) id, a GUID such as 00000000-0000-0000-0000-000000000000; Entra ID will refuse it", f.ClientID))
	}
	if f.Cache != "" && f.Cache != CacheNone && strings.TrimSpace(f.Cache) == "" {
		return warnings, errors.New("-cache is blank: give a directory, a file, or none")
	}
	return warnings, nil
}
