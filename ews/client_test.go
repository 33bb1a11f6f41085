package ews_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/internal/fake/ewstest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/tokencache"
)

const (
	tenant = "contoso"
	appID  = "ews-app"
	secret = "s3cret-value"
	alice  = "alice@contoso.test"
	shared = "shared@contoso.test"
)

// One RSA key for every IdP of the test binary (generating one is slow).
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

type env struct {
	idp   *fakeidp.IdP
	srv   *ewstest.Server
	cloud cloud.Cloud
}

func newEnv(t *testing.T, opts ewstest.Options) *env {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{SigningKey: signingKey()})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: appID, Secret: secret, Roles: []string{"full_access_as_app"}})
	idp.AddUser(fakeidp.User{TenantID: tenant, UPN: alice})
	opts.Verify = idp.Verify
	if opts.Mailboxes == nil {
		opts.Mailboxes = []string{alice, shared}
	}
	srv, err := ewstest.New(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	c := cloud.Global
	c.AuthorityHost = idp.URL()
	return &env{idp: idp, srv: srv, cloud: c}
}

// appSource is a tokencache app-only source over the fake IdP.
func (e *env) appSource(t *testing.T) *tokencache.Source {
	t.Helper()
	cache := tokencache.New(&tokencache.Options{HTTPClient: e.idp.HTTPClient()})
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: e.cloud, TenantID: tenant, ClientID: appID, Credential: tokencache.ClientSecret(secret)})
	require.NoError(t, err)
	return app.Source(e.cloud.AppOnlyScope())
}

// userToken mints a delegated EWS token for upn.
func (e *env) userToken(t *testing.T, upn string) string {
	t.Helper()
	tok, err := e.idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", TenantID: tenant, UPN: upn,
		Scp: []string{"EWS.AccessAsUser.All"}, AppID: "public-app", ExpiresAt: time.Now().Add(time.Hour), IssuedAt: time.Now()})
	require.NoError(t, err)
	return tok
}

func (e *env) client(t *testing.T, src oauth2.TokenSource, mailbox string, appOnly bool, mod func(*ews.Options)) *ews.Client {
	t.Helper()
	o := ews.Options{URL: e.srv.URL(), Token: src, Mailbox: mailbox, AppOnly: appOnly, Transport: e.srv.Transport()}
	if mod != nil {
		mod(&o)
	}
	c, err := ews.New(&o)
	require.NoError(t, err)
	return c
}

func (e *env) userClient(t *testing.T, mailbox string, mod func(*ews.Options)) *ews.Client {
	return e.client(t, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: e.userToken(t, alice)}), mailbox, false, mod)
}

func ops(reqs []ewstest.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Op)
	}
	return out
}

func TestGetFolderDistinguishedAndByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	ctx := t.Context()

	fs, err := c.GetFolder(ctx, ews.Inbox)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	inbox := fs[0]
	assert.Equal(t, "Inbox", inbox.DisplayName)
	assert.Equal(t, 25, inbox.TotalCount)
	assert.Equal(t, 19, inbox.UnreadCount, "every 4th seeded message is read")
	assert.Equal(t, 1, inbox.ChildFolderCount)
	assert.Equal(t, "IPF.Note", inbox.FolderClass)
	assert.NotEmpty(t, inbox.ParentID.ID)

	byID, err := c.GetFolder(ctx, inbox.ID, ews.SentItems)
	require.NoError(t, err)
	require.Len(t, byID, 2)
	assert.Equal(t, inbox, byID[0])
	assert.Equal(t, "Sent Items", byID[1].DisplayName)

	// A bad id fails that folder only, with a typed error.
	fs, err = c.GetFolder(ctx, ews.FolderID{ID: "not base64!"}, ews.Inbox)
	assert.Len(t, fs, 1)
	assert.ErrorIs(t, err, ews.CodeInvalidIDMalformed)
}

func TestFindFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	names := func(fs []ews.Folder) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.DisplayName)
		}
		return out
	}
	fs, err := c.FindFolder(t.Context(), ews.MsgFolderRoot, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email", "Archive"}, names(fs))
	fs, err = c.FindFolder(t.Context(), ews.MsgFolderRoot, true)
	require.NoError(t, err)
	assert.Contains(t, names(fs), "Projects")
}

func TestFindItemsPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)

	var subjects []string
	for it, err := range c.FindItems(t.Context(), ews.Inbox, &ews.FindOptions{PageSize: 10}) {
		require.NoError(t, err)
		subjects = append(subjects, it.Subject)
		assert.NotEmpty(t, it.ID.ID)
		assert.Contains(t, it.From.Address, "@fabrikam.test")
		assert.False(t, it.DateTimeReceived.IsZero())
	}
	require.Len(t, subjects, 25)
	assert.Equal(t, "Message 1", subjects[0])
	assert.Equal(t, "Message 25", subjects[24])
	assert.Equal(t, []string{"FindItem", "FindItem", "FindItem"}, ops(e.srv.Requests()), "25 items in pages of 10")
}

func TestFindItemsPartialPagesKeepPaging(t *testing.T) {
	t.Parallel()
	// EWSFindCountLimit of 7: pages come back shorter than asked for, and
	// only IncludesLastItemInRange ends the listing.
	e := newEnv(t, ewstest.Options{FindCountLimit: 7})
	c := e.userClient(t, alice, nil)
	n := 0
	seen := map[string]bool{}
	for it, err := range c.FindItems(t.Context(), ews.Inbox, &ews.FindOptions{PageSize: 10}) {
		require.NoError(t, err)
		assert.False(t, seen[it.ID.ID], "no duplicates")
		seen[it.ID.ID] = true
		n++
	}
	assert.Equal(t, 25, n)
	assert.Len(t, e.srv.Requests(), 4)
}

func TestFindItemsMaxAndBreak(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	n := 0
	for _, err := range c.FindItems(t.Context(), ews.Inbox, &ews.FindOptions{PageSize: 5, Max: 7}) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 7, n)
	assert.Len(t, e.srv.Requests(), 2)

	e.srv.ResetRequests()
	for range c.FindItems(t.Context(), ews.Inbox, &ews.FindOptions{PageSize: 5}) {
		break
	}
	assert.Len(t, e.srv.Requests(), 1, "breaking out stops paging")

	// NewestFirst is honoured; an error is yielded once.
	var first ews.Item
	for it, err := range c.FindItems(t.Context(), ews.Inbox, &ews.FindOptions{NewestFirst: true, Max: 1}) {
		require.NoError(t, err)
		first = it
	}
	assert.Equal(t, ewstest.BaseTime(), first.DateTimeReceived)
	errs := 0
	for _, err := range c.FindItems(t.Context(), ews.FolderID{ID: "bm9wZQ=="}, nil) {
		require.ErrorIs(t, err, ews.CodeFolderNotFound)
		errs++
	}
	assert.Equal(t, 1, errs)
}

func firstItems(t *testing.T, c *ews.Client, folder ews.FolderRef, n int) []ews.Item {
	t.Helper()
	var out []ews.Item
	for it, err := range c.FindItems(t.Context(), folder, &ews.FindOptions{Max: n}) {
		require.NoError(t, err)
		out = append(out, it)
	}
	return out
}

func TestGetItemPropertiesAndMIME(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	it := firstItems(t, c, ews.Inbox, 1)[0]

	full, err := c.GetItem(t.Context(), it.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, "Message 1", full.Subject)
	assert.Equal(t, "Hello from message 1.", full.Body)
	assert.Equal(t, "Text", full.BodyType)
	assert.Equal(t, []ews.Mailbox{{Name: alice, Address: alice, RoutingType: "SMTP"}}, full.To)
	assert.Nil(t, full.MIME)

	withMIME, err := c.GetItem(t.Context(), it.ID, &ews.GetItemOptions{MIME: true})
	require.NoError(t, err)
	assert.Contains(t, string(withMIME.MIME), "Subject: Message 1\r\n")

	_, err = c.GetItem(t.Context(), ews.ItemID{ID: "bm8tc3VjaC1pdGVt"}, nil)
	var ee *ews.Error
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, ews.CodeItemNotFound, ee.Code)
	assert.Equal(t, "The specified object was not found in the store.", ee.Message)
}

func TestSendFromFieldsAndMIME(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	ctx := t.Context()
	require.NoError(t, c.Send(ctx, &ews.Message{Subject: "Q3 <budget> & plan", Body: "see attached", To: []string{"bob@fabrikam.test"}, Cc: []string{"carol@fabrikam.test"}}))
	mime := []byte("From: alice@contoso.test\r\nTo: bob@fabrikam.test\r\nSubject: raw\r\n\r\nbody\r\n")
	require.NoError(t, c.Send(ctx, &ews.Message{MIME: mime, NoSaveCopy: true}))

	sent := e.srv.Sent()
	require.Len(t, sent, 2)
	assert.Equal(t, "SendAndSaveCopy", sent[0].Disposition)
	assert.Equal(t, "Q3 <budget> & plan", sent[0].Subject)
	assert.Equal(t, []string{"bob@fabrikam.test"}, sent[0].To)
	assert.Equal(t, []string{"carol@fabrikam.test"}, sent[0].Cc)
	assert.Equal(t, "SendOnly", sent[1].Disposition)
	assert.Equal(t, mime, sent[1].MIME)

	fs, err := c.GetFolder(ctx, ews.SentItems)
	require.NoError(t, err)
	assert.Equal(t, 1, fs[0].TotalCount, "one copy saved")

	assert.Error(t, c.Send(ctx, &ews.Message{Subject: "nobody"}))
}

func TestSyncFolderItemsIncremental(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{Items: 12})
	c := e.userClient(t, alice, nil)
	ctx := t.Context()

	state := ""
	var created []ews.Item
	for range 10 {
		res, err := c.SyncFolderItems(ctx, ews.Inbox, state, 5)
		require.NoError(t, err)
		for _, ch := range res.Changes {
			assert.Equal(t, ews.ChangeCreate, ch.Type)
			created = append(created, ch.Item)
		}
		state = res.SyncState
		if res.IncludesLastItemInRange {
			break
		}
	}
	require.Len(t, created, 12)

	// Nothing new: an empty batch.
	res, err := c.SyncFolderItems(ctx, ews.Inbox, state, 5)
	require.NoError(t, err)
	assert.Empty(t, res.Changes)
	assert.True(t, res.IncludesLastItemInRange)

	// Mark one read, move one out: ReadFlagChange and Delete follow.
	ids, err := c.SetRead(ctx, []ews.ItemID{created[0].ID}, true)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	assert.NotEqual(t, created[0].ID.ChangeKey, ids[0].ChangeKey, "new change key")
	moved, err := c.MoveItems(ctx, []ews.ItemID{created[1].ID}, ews.JunkEmail)
	require.NoError(t, err)
	require.Len(t, moved, 1)

	res, err = c.SyncFolderItems(ctx, ews.Inbox, state, 100)
	require.NoError(t, err)
	require.Len(t, res.Changes, 2)
	assert.Equal(t, ews.ChangeReadFlagChange, res.Changes[0].Type)
	assert.Equal(t, created[0].ID.ID, res.Changes[0].Item.ID.ID)
	assert.True(t, res.Changes[0].Item.IsRead)
	assert.Equal(t, ews.ChangeDelete, res.Changes[1].Type)
	assert.Equal(t, created[1].ID.ID, res.Changes[1].Item.ID.ID)

	_, err = c.SyncFolderItems(ctx, ews.Inbox, "Z2FyYmFnZQ==", 10)
	assert.ErrorIs(t, err, ews.CodeInvalidSyncStateData)
}

func TestMoveDeleteSetRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{Items: 4})
	c := e.userClient(t, alice, nil)
	ctx := t.Context()
	items := firstItems(t, c, ews.Inbox, 4)

	_, err := c.SetRead(ctx, []ews.ItemID{items[0].ID, items[1].ID}, false)
	require.NoError(t, err)
	got, err := c.GetItem(ctx, items[0].ID, nil)
	require.NoError(t, err)
	assert.False(t, got.IsRead)

	moved, err := c.MoveItems(ctx, []ews.ItemID{items[2].ID}, ews.Archive)
	require.NoError(t, err)
	require.Len(t, moved, 1)
	assert.NotEqual(t, items[2].ID.ID, moved[0].ID, "a move gives a new id")
	_, err = c.GetItem(ctx, moved[0], nil)
	require.NoError(t, err)

	require.NoError(t, c.DeleteItems(ctx, []ews.ItemID{items[0].ID}, ews.MoveToDeletedItems))
	require.NoError(t, c.DeleteItems(ctx, []ews.ItemID{items[1].ID}, ews.HardDelete))
	err = c.DeleteItems(ctx, []ews.ItemID{items[1].ID}, ews.HardDelete)
	assert.ErrorIs(t, err, ews.CodeItemNotFound)

	fs, err := c.GetFolder(ctx, ews.Inbox, ews.DeletedItems, ews.Archive)
	require.NoError(t, err)
	assert.Equal(t, 1, fs[0].TotalCount)
	assert.Equal(t, 1, fs[1].TotalCount)
	assert.Equal(t, 1, fs[2].TotalCount)
}

func TestDelegatedSharedMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	// alice's token opens the shared mailbox through the Mailbox element
	// of DistinguishedFolderId.
	c := e.userClient(t, shared, nil)
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	require.NoError(t, err)
	r := e.srv.Requests()[0]
	assert.Equal(t, shared, r.AnchorMailbox)
	assert.Empty(t, r.Impersonated)
	assert.False(t, r.AppOnly)

	nobody := e.userClient(t, "nobody@contoso.test", nil)
	_, err = nobody.GetFolder(t.Context(), ews.Inbox)
	var ee *ews.Error
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, ews.CodeNonExistentMailbox, ee.Code)
	assert.False(t, ee.Fault)
	assert.Contains(t, ee.Error(), "no mailbox has this SMTP address")
}

func TestAppOnlyHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.client(t, e.appSource(t), shared, true, nil)
	ctx := t.Context()
	_, err := c.GetFolder(ctx, ews.Inbox)
	require.NoError(t, err)
	n := 0
	for _, err := range c.FindItems(ctx, ews.Inbox, &ews.FindOptions{PageSize: 10}) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 25, n)
	require.NoError(t, c.Send(ctx, &ews.Message{Subject: "s", To: []string{"x@fabrikam.test"}}))
	assert.Equal(t, shared, e.srv.Sent()[0].From)

	reqs := e.srv.Requests()
	require.Len(t, reqs, 5)
	for _, r := range reqs {
		assert.Equal(t, http.StatusOK, r.Status)
		assert.True(t, r.AppOnly)
		assert.Equal(t, shared, r.Impersonated, "%s carries ExchangeImpersonation", r.Op)
		assert.Equal(t, shared, r.AnchorMailbox, "%s carries X-AnchorMailbox", r.Op)
		assert.Equal(t, "Exchange2013_SP1", r.ServerVersion)
	}
	assert.EqualValues(t, 1, e.idp.Requests(fakeidp.GrantClientCredentials), "one token for all requests")
}

func TestAppOnlyTokenWithoutImpersonation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.client(t, e.appSource(t), shared, false, nil) // AppOnly forgotten
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	var ee *ews.Error
	require.ErrorAs(t, err, &ee)
	assert.True(t, ee.Fault)
	assert.Equal(t, http.StatusInternalServerError, ee.HTTPStatus)
	assert.ErrorIs(t, err, ews.CodeInvalidExchangeImpersonationHeaderData)
	assert.Equal(t, "ExchangeImpersonation SOAP header must be present for this type of OAuth token.", ee.Message)
	assert.Contains(t, ee.Hint(), "set AppOnly and Mailbox")

	// The converse: a user token with AppOnly set.
	u := e.client(t, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: e.userToken(t, alice)}), alice, true, nil)
	_, err = u.GetFolder(t.Context(), ews.Inbox)
	require.ErrorAs(t, err, &ee)
	assert.Contains(t, ee.Hint(), "do not set AppOnly")
}

func TestImpersonationDeniedAndUnknownMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	src := e.appSource(t)
	c := e.client(t, src, "ghost@contoso.test", true, nil)
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	var ee *ews.Error
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, ews.CodeNonExistentMailbox, ee.Code)
	assert.True(t, ee.Fault)

	e.srv.SetDenyImpersonation(true)
	c = e.client(t, src, shared, true, nil)
	_, err = c.GetFolder(t.Context(), ews.Inbox)
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, ews.CodeImpersonateUserDenied, ee.Code)
	assert.Contains(t, ee.Error(), "full_access_as_app")
}

func Test401ThenSuccessTwoTokenRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.client(t, e.appSource(t), shared, true, nil)
	_, err := c.GetFolder(t.Context(), ews.Inbox) // warm: 1 token request
	require.NoError(t, err)
	e.idp.ResetCounters()
	e.srv.ResetRequests()

	e.srv.SetUnauthorized(1)
	fs, err := c.GetFolder(t.Context(), ews.Inbox)
	require.NoError(t, err)
	assert.Equal(t, "Inbox", fs[0].DisplayName)
	assert.EqualValues(t, 1, e.idp.Requests(fakeidp.GrantClientCredentials), "the rejected token is dropped and one new token fetched")
	reqs := e.srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, http.StatusUnauthorized, reqs[0].Status)
	assert.Equal(t, http.StatusOK, reqs[1].Status)
}

func Test401FromColdCacheMakesExactlyTwoTokenRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.client(t, e.appSource(t), shared, true, nil)
	e.srv.SetUnauthorized(1)
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	require.NoError(t, err)
	assert.EqualValues(t, 2, e.idp.Requests(fakeidp.GrantClientCredentials))
}

func Test401TwiceIsTypedHTTPError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	src := e.appSource(t)
	c := e.client(t, src, shared, true, nil)
	e.srv.SetUnauthorized(5)
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	var he *ews.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusUnauthorized, he.StatusCode)
	assert.Equal(t, "invalid_token", he.AuthError)
	assert.Contains(t, he.Hint(), "audience")
	assert.Len(t, e.srv.Requests(), 2, "retried once, never more")
	assert.EqualValues(t, 2, e.idp.Requests(fakeidp.GrantClientCredentials))
	tok, terr := src.Token()
	require.NoError(t, terr)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, he, he), tok.AccessToken)
}

func TestServerBusyIsWaitedOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	e.srv.SetBusy(2, 60*time.Millisecond)
	start := time.Now()
	fs, err := c.GetFolder(t.Context(), ews.Inbox)
	require.NoError(t, err)
	assert.Equal(t, "Inbox", fs[0].DisplayName)
	assert.GreaterOrEqual(t, time.Since(start), 120*time.Millisecond, "waited BackOffMilliseconds twice")
	assert.Len(t, e.srv.Requests(), 3)
}

func TestServerBusyBeyondLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})

	// A back-off above MaxBusyWait is returned at once, with the back-off.
	c := e.userClient(t, alice, func(o *ews.Options) { o.MaxBusyWait = time.Second })
	e.srv.SetBusy(1, 5*time.Minute)
	start := time.Now()
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	var ee *ews.Error
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, ews.CodeServerBusy, ee.Code)
	assert.Equal(t, 5*time.Minute, ee.BackOff)
	assert.True(t, ee.Temporary())
	assert.Less(t, time.Since(start), 60*time.Second, "did not wait 5 min")

	// More busy answers than retries.
	e.srv.ResetRequests()
	c = e.userClient(t, alice, func(o *ews.Options) { o.MaxBusyRetries = 2 })
	e.srv.SetBusy(10, time.Millisecond)
	_, err = c.GetFolder(t.Context(), ews.Inbox)
	require.ErrorIs(t, err, ews.CodeServerBusy)
	assert.Len(t, e.srv.Requests(), 3)

	// The context ends the wait.
	e.srv.SetBusy(1, 500*time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.GetFolder(ctx, ews.Inbox)
	require.ErrorIs(t, err, context.Canceled)
	e.srv.SetBusy(0, 0)
}

func TestAffinityCookieEcho(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, func(o *ews.Options) { o.PreferServerAffinity = true; o.ServerVersion = "Exchange2016" })
	for range 2 {
		_, err := c.GetFolder(t.Context(), ews.Inbox)
		require.NoError(t, err)
	}
	reqs := e.srv.Requests()
	require.Len(t, reqs, 2)
	assert.True(t, reqs[0].Affinity)
	assert.Empty(t, reqs[0].BackEndCookie)
	assert.NotEmpty(t, reqs[1].BackEndCookie, "X-BackEndOverrideCookie echoed")
	assert.Equal(t, "Exchange2016", reqs[1].ServerVersion)
}

func TestRedirectNotFollowedAndNoTokenToOtherHost(t *testing.T) {
	t.Parallel()
	var otherHits, otherAuth int
	var mu sync.Mutex
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		otherHits++
		if r.Header.Get("Authorization") != "" {
			otherAuth++
		}
	}))
	defer other.Close()
	redir := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/EWS/Exchange.asmx", http.StatusFound)
	}))
	defer redir.Close()
	c, err := ews.New(&ews.Options{URL: redir.URL + "/EWS/Exchange.asmx", Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "secret-token"}),
		Mailbox: alice, Transport: redir.Client().Transport})
	require.NoError(t, err)
	_, err = c.GetFolder(t.Context(), ews.Inbox)
	var he *ews.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusFound, he.StatusCode)
	assert.Equal(t, other.URL+"/EWS/Exchange.asmx", he.Location)
	assert.Contains(t, he.Hint(), "autodiscover")
	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, otherHits)
	assert.Zero(t, otherAuth)
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	_, err := ews.New(&ews.Options{URL: "http://mail.contoso.test/EWS/Exchange.asmx", Token: src, Mailbox: alice})
	assert.ErrorIs(t, err, mailauth.ErrInsecure)
	_, err = ews.New(&ews.Options{URL: "https://mail.contoso.test/EWS/Exchange.asmx", Token: src})
	assert.ErrorContains(t, err, "Mailbox")
	_, err = ews.New(&ews.Options{URL: "https://mail.contoso.test/EWS/Exchange.asmx", Mailbox: alice})
	assert.ErrorContains(t, err, "Token")
	_, err = ews.New(&ews.Options{Token: src, Mailbox: alice})
	assert.ErrorContains(t, err, "URL")
	c, err := ews.New(&ews.Options{URL: "https://mail.contoso.test/EWS/Exchange.asmx", Token: src, Mailbox: alice})
	require.NoError(t, err)
	assert.Equal(t, `ews.Client{URL:"https://mail.contoso.test/EWS/Exchange.asmx" Mailbox:"alice@contoso.test" AppOnly:false}`, fmt.Sprint(c))
}

func TestConcurrentFindItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.client(t, e.appSource(t), shared, true, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			n := 0
			for _, err := range c.FindItems(t.Context(), ews.Inbox, &ews.FindOptions{PageSize: 10}) {
				if !assert.NoError(t, err) {
					return
				}
				n++
			}
			assert.Equal(t, 25, n)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, e.idp.Requests(fakeidp.GrantClientCredentials), "one token request for all goroutines")
}

var _ = errors.New
var _ = strings.Contains

// A delegated tokencache source: after a 401 the token is invalidated and
// exactly one refresh-token redemption follows.
func Test401DelegatedThroughTokencache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	e.idp.AddApp(fakeidp.App{ClientID: "public-app"})
	cache := tokencache.New(&tokencache.Options{HTTPClient: e.idp.HTTPClient()})
	user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: e.cloud, TenantID: tenant, ClientID: "public-app", Account: alice,
		Scopes: e.cloud.DelegatedScopes(cloud.EWS)})
	require.NoError(t, err)
	require.NoError(t, user.ImportRefreshToken(t.Context(), e.idp.IssueRefreshToken(tenant, "public-app", alice, e.cloud.DelegatedScopes(cloud.EWS))))
	c := e.client(t, user.Source(e.cloud.DelegatedScope(cloud.EWS)), alice, false, nil)
	_, err = c.GetFolder(t.Context(), ews.Inbox)
	require.NoError(t, err)
	before := e.idp.Requests(fakeidp.GrantRefreshToken)

	e.srv.SetUnauthorized(1)
	fs, err := c.GetFolder(t.Context(), ews.Inbox)
	require.NoError(t, err)
	assert.Equal(t, 25, fs[0].TotalCount)
	assert.Equal(t, before+1, e.idp.Requests(fakeidp.GrantRefreshToken), "one redemption after the 401")
	reqs := e.srv.Requests()
	assert.Equal(t, []int{200, 401, 200}, []int{reqs[0].Status, reqs[1].Status, reqs[2].Status})
}

// An error page that echoes the request's Authorization header must not put
// the token into the error, and the debug log never holds it.
func TestNoTokenInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "<html>Bad Request. Headers: Authorization: %s</html>", r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	const token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sifQ.c2lnbmF0dXJl"
	var logs strings.Builder
	c, err := ews.New(&ews.Options{URL: srv.URL + "/EWS/Exchange.asmx", Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		Mailbox: alice, Transport: srv.Client().Transport, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	_, err = c.GetFolder(t.Context(), ews.Inbox)
	var he *ews.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusBadRequest, he.StatusCode)
	assert.Contains(t, he.Body, "Bearer [REDACTED]")
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", err, he, he), he.Body, logs.String(), fmt.Sprintf("%v %#v", c, c)} {
		assert.NotContains(t, s, "eyJ0eXAi")
	}
	assert.Contains(t, logs.String(), "status=400")
}

func TestHTTPThrottlingHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	e.srv.SetThrottle(2, http.StatusServiceUnavailable, 0)
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	require.NoError(t, err)
	reqs := e.srv.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, []int{503, 503, 200}, []int{reqs[0].Status, reqs[1].Status, reqs[2].Status})

	// A Retry-After longer than MaxBackoff comes back as a typed error.
	c = e.userClient(t, alice, func(o *ews.Options) { o.MaxBackoff = time.Second })
	e.srv.SetThrottle(1, http.StatusTooManyRequests, time.Minute)
	_, err = c.GetFolder(t.Context(), ews.Inbox)
	var he *ews.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusTooManyRequests, he.StatusCode)
	assert.True(t, he.Temporary())
	assert.Contains(t, he.Hint(), "throttling")
}

// The errors people meet with the wrong token: a Graph token (wrong
// audience) and a token without EWS.AccessAsUser.All.
func TestWrongTokenHints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	mint := func(aud string, scp ...string) oauth2.TokenSource {
		tok, err := e.idp.Mint(fakeidp.Claims{Audience: aud, TenantID: tenant, UPN: alice, Scp: scp, ExpiresAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})
	}
	// A Graph token is refused before it is sent (see TestGraphTokenRefusedUpFront).
	n := len(e.srv.Requests())
	c := e.client(t, mint("https://graph.microsoft.com", "Mail.Read"), alice, false, nil)
	_, err := c.GetFolder(t.Context(), ews.Inbox)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not Exchange Online, so it was not sent")
	assert.Len(t, e.srv.Requests(), n)
	var he *ews.HTTPError

	c = e.client(t, mint("https://outlook.office365.com", "IMAP.AccessAsUser.All"), alice, false, nil)
	_, err = c.GetFolder(t.Context(), ews.Inbox)
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusForbidden, he.StatusCode)
	assert.Contains(t, he.Hint(), "EwsEnabled")
}

func TestFindItemsStopsWithContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ewstest.Options{})
	c := e.userClient(t, alice, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n, errs := 0, 0
	for _, err := range c.FindItems(ctx, ews.Inbox, &ews.FindOptions{PageSize: 5}) {
		if err != nil {
			assert.ErrorIs(t, err, context.Canceled)
			errs++
			continue
		}
		n++
		if n == 5 {
			cancel() // the next page request sees the cancelled context
		}
	}
	assert.Equal(t, 5, n)
	assert.Equal(t, 1, errs)
}

func TestNilOptionsAndLoopbackOnlyHTTP(t *testing.T) {
	t.Parallel()
	_, err := ews.New(nil)
	assert.ErrorContains(t, err, "Options.URL must be set")
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	_, err = ews.New(&ews.Options{URL: "http://mail.contoso.test/EWS/Exchange.asmx", Token: src, Mailbox: alice, InsecureAllowHTTP: true})
	assert.ErrorIs(t, err, mailauth.ErrInsecure, "InsecureAllowHTTP holds on loopback only")
	_, err = ews.New(&ews.Options{URL: "http://127.0.0.1:8080/EWS/Exchange.asmx", Token: src, Mailbox: alice, InsecureAllowHTTP: true})
	assert.NoError(t, err)
}
