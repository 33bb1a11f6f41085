package cli

import (
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

func identityIdP(t *testing.T) (*fakeidp.IdP, string, string) {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte("projected-sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "wif", FederatedTokenFile: tokenFile, Roles: []string{"IMAP.AccessAsApp"}})
	endpoint, header := idp.ManagedIdentityEndpoint()
	t.Setenv("IDENTITY_ENDPOINT", endpoint)
	t.Setenv("IDENTITY_HEADER", header)
	idp.AddManagedIdentity(fakeidp.ManagedIdentity{System: true, TenantID: "contoso", ClientID: "sys-mi"})
	idp.AddManagedIdentity(fakeidp.ManagedIdentity{TenantID: "contoso", ClientID: "user-mi"})
	for _, v := range []string{"AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST", "MAILAUTH_CLIENT_SECRET"} {
		t.Setenv(v, "")
	}
	return idp, ca, tokenFile
}

func setupArgs(t *testing.T, args ...string) *Env {
	t.Helper()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := Register(fs)
	if err := Parse(fs, append(args, "-cache", filepath.Join(t.TempDir(), "cache"))); err != nil {
		t.Fatal(err)
	}
	e, err := Setup(f, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func appIDOf(t *testing.T, idp *fakeidp.IdP, e *Env) string {
	t.Helper()
	tok, err := e.Source(cloud.IMAP).Token()
	if err != nil {
		t.Fatal(err)
	}
	c, err := idp.Verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return c.AppID
}

// TestManagedIdentityFlag: -managed-identity= is the system-assigned identity,
// -managed-identity ID a user-assigned one; both are app-only.
func TestManagedIdentityFlag(t *testing.T) {
	idp, ca, _ := identityIdP(t)
	e := setupArgs(t, "-ca-file", ca, "-managed-identity=")
	if !e.AppOnly() || e.Mode() != ModeAppOnly {
		t.Fatalf("mode %s", e.Mode())
	}
	if got := appIDOf(t, idp, e); got != "sys-mi" {
		t.Fatalf("system-assigned: appid %q", got)
	}
	if got := appIDOf(t, idp, setupArgs(t, "-ca-file", ca, "-managed-identity", "system")); got != "sys-mi" {
		t.Fatalf("-managed-identity system: appid %q", got)
	}
	if got := appIDOf(t, idp, setupArgs(t, "-ca-file", ca, "-managed-identity", "user-mi")); got != "user-mi" {
		t.Fatalf("user-assigned: appid %q", got)
	}
}

// TestFederatedTokenFileFlagAndAzureEnv: -federated-token-file with -tenant and
// -client-id, and the same from AZURE_* when no credential flag is given.
func TestFederatedTokenFileFlagAndAzureEnv(t *testing.T) {
	idp, ca, file := identityIdP(t)
	e := setupArgs(t, "-ca-file", ca, "-authority-host", idp.URL(), "-tenant", "contoso", "-client-id", "wif", "-federated-token-file", file)
	if got := appIDOf(t, idp, e); got != "wif" {
		t.Fatalf("flag: appid %q", got)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	t.Setenv("AZURE_CLIENT_ID", "wif")
	t.Setenv("AZURE_TENANT_ID", "contoso")
	t.Setenv("AZURE_AUTHORITY_HOST", idp.URL()+"/")
	e = setupArgs(t, "-ca-file", ca)
	if !e.AppOnly() {
		t.Fatal("AZURE_* environment: not app-only")
	}
	if got := appIDOf(t, idp, e); got != "wif" {
		t.Fatalf("env: appid %q", got)
	}
	if n := len(idp.FederatedAssertions()); n != 2 {
		t.Fatalf("%d federated assertions, want 2", n)
	}
}

// TestTenantConsumers: -tenant consumers switches to Outlook.com's scopes and hosts.
func TestTenantConsumers(t *testing.T) {
	_, ca, _ := identityIdP(t)
	e := setupArgs(t, "-ca-file", ca, "-tenant", "consumers", "-client-id", "pub", "-user", "bob@outlook.com")
	if e.Cloud.Resource != "https://outlook.office.com" || e.Cloud.SMTPHost != "smtp-mail.outlook.com" || e.Cloud.IMAPHost != "outlook.office365.com" {
		t.Fatalf("cloud %+v", e.Cloud)
	}
	if got := e.Scopes(cloud.IMAP); got[0] != "https://outlook.office.com/IMAP.AccessAsUser.All" {
		t.Fatalf("scopes %v", got)
	}
	if e.User == nil {
		t.Fatal("consumers is delegated")
	}
}
