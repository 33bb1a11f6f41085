package poptest_test

import (
	"context"
	"testing"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/tokencache"
)

// TestFakeIdPAuthorizerWithCacheTokens checks that the tokens the cache gets
// from fakeidp for POP (delegated and app-only) are the ones the authorizer
// accepts, as the quickstart relies on.
func TestFakeIdPAuthorizerWithCacheTokens(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{DefaultUser: "alice@contoso.test", AutoApproveDevice: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	idp.AddUser(fakeidp.User{TenantID: "t1", UPN: "alice@contoso.test"})
	idp.AddApp(fakeidp.App{TenantID: "t1", ClientID: "public-app"})
	idp.AddApp(fakeidp.App{TenantID: "t1", ClientID: "daemon", Secret: "s", Roles: []string{"POP.AccessAsApp"}})
	c := cloud.Global
	c.AuthorityHost = idp.URL()
	cache := tokencache.New(&tokencache.Options{HTTPClient: idp.HTTPClient()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: c, TenantID: "t1", ClientID: "public-app", Account: "alice@contoso.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := user.SignInDeviceCode(ctx, func(tokencache.DeviceCode) {}); err != nil {
		t.Fatal(err)
	}
	delegated, err := user.Source(c.DelegatedScopes(cloud.POP)...).TokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: "t1", ClientID: "daemon", Credential: tokencache.ClientSecret("s")})
	if err != nil {
		t.Fatal(err)
	}
	appTok, err := app.Source(c.AppOnlyScope()).TokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	imapTok, err := user.Source(c.DelegatedScopes(cloud.IMAP)...).TokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}

	auth := poptest.FakeIdPAuthorizer(idp, nil)
	if err := auth("alice@contoso.test", delegated.AccessToken); err != nil {
		t.Errorf("delegated POP token for her own mailbox: %v", err)
	}
	if err := auth("bob@contoso.test", delegated.AccessToken); err == nil {
		t.Error("delegated token accepted for someone else's mailbox")
	}
	if err := auth("bob@contoso.test", appTok.AccessToken); err != nil {
		t.Errorf("app-only token with POP.AccessAsApp: %v", err)
	}
	if err := auth("alice@contoso.test", imapTok.AccessToken); err == nil {
		t.Error("an IMAP-only delegated token was accepted for POP")
	}
}
