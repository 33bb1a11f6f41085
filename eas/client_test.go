package eas_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/internal/fake/eastest"
)

func inboxOf(t *testing.T, folders []eas.Folder) eas.Folder {
	t.Helper()
	for _, f := range folders {
		if f.Type == eas.FolderInbox {
			return f
		}
	}
	t.Fatalf("no Inbox among %v", folders)
	return eas.Folder{}
}

// TestEndToEnd drives every command against the in-process server:
// OPTIONS, Provision (both phases), FolderSync, Sync over several
// MoreAvailable rounds, SendMail, Ping (expiry and change), ItemOperations.
func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		base64  bool
	}{
		{"16.1 plain query", eas.Version161, false},
		{"14.1 plain query", eas.Version141, false},
		{"16.1 base64 query", eas.Version161, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, eastest.Options{Messages: 120})
			c := e.client(t, func(o *eas.Options) { o.ProtocolVersion = tc.version; o.Base64Query = tc.base64 })
			ctx := t.Context()

			info, err := c.ServerOptions(ctx)
			require.NoError(t, err, "ServerOptions")
			assert.True(t, info.Supports("16.1") && info.Supports("14.1"), "versions %v", info.Versions)
			assert.True(t, info.SupportsCommand("ItemOperations"), "commands %v", info.Commands)
			assert.Equal(t, tc.version, c.ProtocolVersion(), "a pinned version stays")

			pol, err := c.Provision(ctx)
			require.NoError(t, err, "Provision")
			assert.NotEmpty(t, pol.Key)
			assert.Equal(t, e.srv.PolicyKey(testUser, testDevice), pol.Key, "the final key, not the temporary one")
			assert.Equal(t, "1", pol.Settings["AllowHTMLEmail"])
			assert.Equal(t, 2, e.srv.Requests("Provision"), "two phases")

			folders, err := c.Folders(ctx)
			require.NoError(t, err, "Folders")
			assert.Len(t, folders, 7)
			inbox := inboxOf(t, folders)
			assert.Equal(t, "Inbox", inbox.DisplayName)
			last := e.srv.LastRequest()
			assert.Equal(t, tc.base64, last.Base64)
			assert.Equal(t, tc.version, last.ProtocolVersion)
			assert.Equal(t, pol.Key, last.PolicyKey)
			assert.Equal(t, "application/vnd.ms-sync.wbxml", last.ContentType)

			before := e.srv.Requests("Sync")
			res, err := c.SyncFolder(ctx, inbox.ServerID, &eas.SyncOptions{WindowSize: 25, TruncationSize: 100})
			require.NoError(t, err, "SyncFolder")
			assert.Len(t, res.Added, 120)
			assert.False(t, res.MoreAvailable)
			assert.Equal(t, 1+5, e.srv.Requests("Sync")-before, "key 0, then 5 rounds of 25 (MoreAvailable on the first 4)")
			seen := map[string]bool{}
			for _, m := range res.Added {
				assert.False(t, seen[m.ServerID], "duplicate %s", m.ServerID)
				seen[m.ServerID] = true
			}
			first := res.Added[0].Email
			assert.Equal(t, "Message 120", first.Subject, "newest first")
			assert.Equal(t, eas.BodyPlainText, first.Body.Type)
			assert.True(t, first.Body.Truncated)
			assert.Len(t, first.Body.Data, 100)
			assert.EqualValues(t, 2000, first.Body.EstimatedDataSize)
			assert.False(t, first.DateReceived.IsZero())
			assert.Equal(t, res.SyncKey, c.State().SyncKeys[inbox.ServerID])

			again, err := c.SyncFolder(ctx, inbox.ServerID, nil)
			require.NoError(t, err, "incremental SyncFolder")
			assert.Empty(t, again.Added, "nothing new")

			mime := "From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: hello\r\n\r\nHi Bob.\r\n"
			require.NoError(t, c.SendMail(ctx, []byte(mime), &eas.SendOptions{SaveInSentItems: true}), "SendMail")
			sent := e.srv.Sent()
			require.Len(t, sent, 1)
			assert.Equal(t, mime, string(sent[0]), "MIME arrives byte for byte")

			pf := []eas.PingFolder{{ID: inbox.ServerID, Class: inbox.Type.Class()}}
			pr, err := c.Ping(ctx, time.Second, pf)
			require.NoError(t, err, "Ping (expires)")
			assert.Empty(t, pr.Changed)

			go func() {
				time.Sleep(100 * time.Millisecond)
				e.srv.Deliver(testUser, eastest.Message{Subject: "New arrival", From: "carol@contoso.test", To: testUser, Body: "fresh"})
			}()
			start := time.Now()
			pr, err = c.Ping(ctx, 30*time.Second, pf)
			require.NoError(t, err, "Ping (change)")
			assert.Equal(t, []string{inbox.ServerID}, pr.Changed)
			assert.Less(t, time.Since(start), 10*time.Second, "Ping returned on the change, not the heartbeat")

			res, err = c.SyncFolder(ctx, inbox.ServerID, nil)
			require.NoError(t, err, "SyncFolder after Ping")
			require.Len(t, res.Added, 1)
			assert.Equal(t, "New arrival", res.Added[0].Email.Subject)

			msg, err := c.Fetch(ctx, inbox.ServerID, res.Added[0].ServerID, nil)
			require.NoError(t, err, "Fetch")
			assert.Equal(t, eas.BodyMIME, msg.Body.Type)
			assert.Contains(t, msg.Body.Data, "Subject: New arrival\r\n")
			assert.True(t, strings.HasSuffix(msg.Body.Data, "\r\n\r\nfresh"), "whole message, not truncated")

			_, err = c.Fetch(ctx, inbox.ServerID, "1:999999", nil)
			var se *eas.StatusError
			require.ErrorAs(t, err, &se, "Fetch of a missing item")
			assert.Equal(t, 6, se.Status)
			assert.Equal(t, "ItemOperations", se.Command)
		})
	}
}

// TestServerOptionsNegotiates checks that without a pinned version the
// client picks the highest version both sides speak.
func TestServerOptionsNegotiates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Versions: "12.1,14.0,14.1"})
	c := e.client(t, nil)
	assert.Equal(t, eas.Version161, c.ProtocolVersion(), "default before OPTIONS")
	_, err := c.ServerOptions(t.Context())
	require.NoError(t, err)
	assert.Equal(t, eas.Version141, c.ProtocolVersion())
	_, err = c.Folders(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "14.1", e.srv.LastRequest().ProtocolVersion)

	e2 := newEnv(t, eastest.Options{Versions: "2.5,12.0"})
	_, err = e2.client(t, nil).ServerOptions(t.Context())
	assert.ErrorContains(t, err, "none of which this client speaks")
}

// TestProvisionOnDemand checks that the first command provisions by
// itself when the server answers 449.
func TestProvisionOnDemand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{})
	c := e.client(t, nil)
	_, err := c.Folders(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, e.srv.Requests("FolderSync"), "449, then the retry")
	assert.Equal(t, 2, e.srv.Requests("Provision"))
	assert.NotEmpty(t, c.PolicyKey())
}

// TestReprovision forces the server to drop the policy key and checks the
// client provisions again and resends, for HTTP 449 and for each status.
func TestReprovision(t *testing.T) {
	for _, status := range []int{0, 140, 142, 143, 144} {
		t.Run(fmt.Sprintf("status %d", status), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, eastest.Options{Messages: 3})
			c := e.client(t, nil)
			ctx := t.Context()
			_, err := c.Provision(ctx)
			require.NoError(t, err)
			oldKey := c.PolicyKey()
			folders, err := c.Folders(ctx)
			require.NoError(t, err)
			inbox := inboxOf(t, folders)

			e.srv.ForceReprovision(status)
			res, err := c.SyncFolder(ctx, inbox.ServerID, nil)
			require.NoError(t, err, "SyncFolder after the policy changed")
			assert.Len(t, res.Added, 3)
			assert.Equal(t, 4, e.srv.Requests("Provision"), "one more two-phase Provision")
			assert.NotEqual(t, oldKey, c.PolicyKey())
			assert.Equal(t, e.srv.PolicyKey(testUser, testDevice), c.PolicyKey())
		})
	}
}

// TestRedirect451 checks that a 451 is followed to an allowed host and
// refused for any other.
func TestRedirect451(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 1})
	ctx := t.Context()

	c := e.client(t, func(o *eas.Options) { o.AllowedHosts = []string{"127.0.0.1", "localhost"} })
	_, err := c.Provision(ctx)
	require.NoError(t, err)
	e.srv.RedirectOnce(e.srv.LocalhostURL())
	_, err = c.Folders(ctx)
	require.NoError(t, err, "Folders after 451")
	assert.Equal(t, e.srv.LocalhostURL(), c.URL())
	assert.Equal(t, e.srv.LocalhostURL(), c.State().URL, "the new URL is part of the state")
	assert.Equal(t, 2, e.srv.Requests("FolderSync"))

	// The next run resumes at the new URL, but only while its host is allowed.
	st := c.State()
	resumed := e.client(t, func(o *eas.Options) { o.AllowedHosts = []string{"127.0.0.1", "localhost"}; o.State = &st })
	assert.Equal(t, e.srv.LocalhostURL(), resumed.URL())
	st.URL = "https://mail.evil.example/Microsoft-Server-ActiveSync"
	notResumed := e.client(t, func(o *eas.Options) { o.State = &st })
	assert.Equal(t, e.srv.URL(), notResumed.URL(), "a stored URL on a host that is not allowed is ignored")

	c2 := e.client(t, nil) // only 127.0.0.1 allowed
	_, err = c2.Provision(ctx)
	require.NoError(t, err)
	total := e.srv.TotalRequests()
	e.srv.RedirectOnce("https://mail.evil.example/Microsoft-Server-ActiveSync")
	_, err = c2.Folders(ctx)
	var re *eas.RedirectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "https://mail.evil.example/Microsoft-Server-ActiveSync", re.Location)
	assert.Contains(t, err.Error(), "not allowed")
	assert.Equal(t, total+1, e.srv.TotalRequests(), "nothing resent")
	assert.Equal(t, e.srv.URL(), c2.URL(), "URL unchanged")

	e.srv.RedirectOnce("") // 451 without X-MS-Location
	_, err = c2.Folders(ctx)
	require.ErrorAs(t, err, &re)
	assert.Empty(t, re.Location)
	assert.Contains(t, err.Error(), "Autodiscover")
}

// Test401ThenSuccess: a 401 invalidates the token, one new token is
// fetched and the request succeeds: exactly 2 token requests in all.
func Test401ThenSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 5})
	c := e.client(t, nil)
	ctx := t.Context()
	// newEnv signed the user in (one token request, whose access token
	// tokencache now serves); nothing else has asked for a token yet.
	require.EqualValues(t, 1, e.idp.TotalRequests(), "the sign-in")
	e.srv.Reject401Once(1)
	_, err := c.ServerOptions(ctx)
	require.NoError(t, err, "ServerOptions after one 401")
	assert.Equal(t, 2, e.srv.Requests("OPTIONS"))
	assert.EqualValues(t, 2, e.idp.TotalRequests(), "the first token, then exactly one fresh token after the 401")
	assert.EqualValues(t, 2, e.idp.Requests("refresh_token"), "both were refresh-token redemptions (import, then after the 401)")
	_, err = c.Folders(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, e.idp.TotalRequests(), "later commands reuse the token")

	// A 401 that persists: one retry, then a typed error.
	e.srv.Reject401Once(5)
	_, err = c.FolderSync(ctx, "0")
	var he *eas.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 401, he.StatusCode)
	assert.Equal(t, "invalid_token", he.BearerError)
	assert.Contains(t, he.Error(), "EAS.AccessAsUser.All")
	assert.EqualValues(t, 3, e.idp.TotalRequests(), "one more token, never more")
	tok, _ := e.src.Token()
	assert.NotContains(t, err.Error(), tok.AccessToken)
}

// TestThrottle503 checks Retry-After is honoured and, when retries are off
// or exhausted, surfaces as an HTTPError with RetryAfter.
func TestThrottle503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 1})
	ctx := t.Context()
	c := e.client(t, nil)
	_, err := c.Provision(ctx)
	require.NoError(t, err)

	e.srv.ThrottleOnce(1, time.Second)
	start := time.Now()
	_, err = c.Folders(ctx)
	require.NoError(t, err, "Folders after one 503")
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited Retry-After")

	// The MS-ASHTTP 503 example has no Retry-After: back off and retry.
	e.srv.ThrottleOnce(2, 0)
	_, err = c.FolderSync(ctx, "0")
	require.NoError(t, err, "FolderSync after two 503s without Retry-After")

	c2 := e.client(t, func(o *eas.Options) { o.MaxRetries = -1; o.State = ptr(c.State()) })
	e.srv.ThrottleOnce(1, 7*time.Second)
	_, err = c2.FolderSync(ctx, "0")
	var he *eas.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 503, he.StatusCode)
	assert.Equal(t, 7*time.Second, he.RetryAfter)
	assert.True(t, he.Temporary())
}

func ptr[T any](v T) *T { return &v }

// TestStatusErrors checks each command's Status becomes a typed error with
// its documented meaning, and the client's own recoveries (status 3 and 9
// restart from key 0).
func TestStatusErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 4})
	ctx := t.Context()
	c := e.client(t, nil)
	folders, err := c.Folders(ctx)
	require.NoError(t, err)
	inbox := inboxOf(t, folders)
	_, err = c.SyncFolder(ctx, inbox.ServerID, nil)
	require.NoError(t, err)

	e.srv.StatusOnce("FolderSync", 6)
	_, err = c.FolderSync(ctx, "0")
	var se *eas.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "FolderSync", se.Command)
	assert.Equal(t, 6, se.Status)
	assert.True(t, se.Temporary())
	assert.Contains(t, se.Error(), "an error occurred on the server")

	e.srv.StatusOnce("Sync", 12)
	_, err = c.SyncFolder(ctx, inbox.ServerID, nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 12, se.Status)
	assert.Equal(t, inbox.ServerID, se.CollectionID)
	assert.Contains(t, se.Error(), "run FolderSync")

	// Status 3 (bad sync key): SyncFolder starts the folder over once.
	e.srv.StatusOnce("Sync", 3)
	res, err := c.SyncFolder(ctx, inbox.ServerID, nil)
	require.NoError(t, err, "SyncFolder recovers from status 3")
	assert.Len(t, res.Added, 4, "a full resync")

	e.srv.StatusOnce("SendMail", 119)
	err = c.SendMail(ctx, []byte("Subject: x\r\n\r\nbody"), nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 119, se.Status)
	assert.Contains(t, se.Error(), "no recipient")

	// The real server check behind 119, without the knob.
	err = c.SendMail(ctx, []byte("Subject: x\r\n\r\nbody"), nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 119, se.Status)

	// A ClientId sent twice: 118.
	m := []byte("To: bob@contoso.test\r\nSubject: once\r\n\r\nbody")
	require.NoError(t, c.SendMail(ctx, m, &eas.SendOptions{ClientID: "fixed-1"}))
	err = c.SendMail(ctx, m, &eas.SendOptions{ClientID: "fixed-1"})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 118, se.Status)

	e.srv.StatusOnce("Ping", 7)
	_, err = c.Ping(ctx, time.Second, []eas.PingFolder{{ID: inbox.ServerID}})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "Ping", se.Command)
	assert.Equal(t, 7, se.Status)

	pr, err := c.Ping(ctx, 2*time.Hour, []eas.PingFolder{{ID: inbox.ServerID}})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 5, se.Status)
	require.NotNil(t, pr)
	assert.Equal(t, 3540*time.Second, pr.HeartbeatInterval, "the server's allowed maximum")

	e.srv.StatusOnce("ItemOperations", 3)
	_, err = c.Fetch(ctx, inbox.ServerID, res.Added[0].ServerID, nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 3, se.Status)
	assert.True(t, se.Temporary())

	// FolderSync status 9: Folders starts over from key 0.
	e.srv.StatusOnce("FolderSync", 9)
	folders, err = c.Folders(ctx)
	require.NoError(t, err)
	assert.Len(t, folders, 7)
}

// TestStatePersistence round-trips the state through JSON into a new
// client and checks changes made elsewhere arrive as changes and deletes,
// and client-side changes reach the server.
func TestStatePersistence(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 10})
	ctx := t.Context()
	c := e.client(t, nil)
	folders, err := c.Folders(ctx)
	require.NoError(t, err)
	inbox := inboxOf(t, folders)
	res, err := c.SyncFolder(ctx, inbox.ServerID, nil)
	require.NoError(t, err)
	require.Len(t, res.Added, 10)

	raw, err := json.Marshal(c.State())
	require.NoError(t, err)
	var st eas.State
	require.NoError(t, json.Unmarshal(raw, &st))
	f, ok := st.Folder("Inbox")
	require.True(t, ok)
	assert.Equal(t, inbox, f)

	c2 := e.client(t, func(o *eas.Options) { o.State = &st })
	assert.Equal(t, c.PolicyKey(), c2.PolicyKey())
	folders2, err := c2.Folders(ctx)
	require.NoError(t, err)
	assert.Len(t, folders2, 7, "incremental FolderSync keeps the stored folders")
	assert.Equal(t, 0, e.srv.Requests("Provision")-2, "no new Provision")

	gone, flipped := res.Added[0].ServerID, res.Added[1].Email
	require.True(t, e.srv.DeleteMessage(testUser, gone))
	require.True(t, e.srv.SetRead(testUser, flipped.ServerID, !flipped.Read))
	res2, err := c2.SyncFolder(ctx, inbox.ServerID, nil)
	require.NoError(t, err)
	assert.Empty(t, res2.Added)
	assert.Equal(t, []string{gone}, res2.Deleted)
	require.Len(t, res2.Changed, 1)
	assert.Equal(t, flipped.ServerID, res2.Changed[0].ServerID)
	assert.Equal(t, !flipped.Read, res2.Changed[0].Email.Read)

	// Client-side: mark one read, delete one, refer to a missing one.
	target, victim := res.Added[2], res.Added[3]
	up, err := c2.UpdateItems(ctx, inbox.ServerID,
		[]eas.ItemChange{{ServerID: target.ServerID, Read: true}, {ServerID: "1:424242", Read: true}},
		[]string{victim.ServerID})
	require.NoError(t, err)
	require.Len(t, up.Responses, 1, "only the failure is reported")
	assert.Equal(t, "1:424242", up.Responses[0].ServerID)
	assert.Equal(t, 8, up.Responses[0].Err.Status)
	// A third client sees the effects.
	c3 := e.client(t, func(o *eas.Options) { o.DeviceID = "OtherDevice02" })
	all, err := c3.SyncFolder(ctx, inbox.ServerID, nil)
	require.NoError(t, err)
	assert.Len(t, all.Added, 8, "10 minus the one deleted elsewhere and the one deleted by the client")
	for _, m := range all.Added {
		if m.ServerID == target.ServerID {
			assert.True(t, m.Email.Read)
		}
		assert.NotEqual(t, victim.ServerID, m.ServerID)
	}
}

// TestSecurityDefaults: plain http is refused, and a token is never sent
// to a host outside the allow-list.
func TestSecurityDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{})
	c := e.client(t, func(o *eas.Options) { o.URL = "http://" + e.srv.Addr() + eastest.Path })
	_, err := c.FolderSync(t.Context(), "0")
	require.ErrorIs(t, err, mailauth.ErrInsecure)

	c = e.client(t, func(o *eas.Options) { o.AllowedHosts = []string{"outlook.office365.com"} })
	_, err = c.FolderSync(t.Context(), "0")
	var hn *eas.HostNotAllowedError // exported by eas: a caller outside the module can errors.As it
	require.ErrorAs(t, err, &hn)
	assert.Equal(t, 0, e.srv.TotalRequests())
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	for _, tc := range []struct {
		name string
		o    eas.Options
		want string
	}{
		{"no token", eas.Options{Mailbox: "u", DeviceID: "d1"}, "Token"},
		{"no mailbox", eas.Options{Token: src, DeviceID: "d1"}, "Mailbox"},
		{"no device", eas.Options{Token: src, Mailbox: "u"}, "DeviceID"},
		{"bad device", eas.Options{Token: src, Mailbox: "u", DeviceID: "has-dash"}, "letters and digits"},
		{"bad version", eas.Options{Token: src, Mailbox: "u", DeviceID: "d1", ProtocolVersion: "12.0"}, "not supported"},
		{"bad url", eas.Options{Token: src, Mailbox: "u", DeviceID: "d1", URL: "/relative"}, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eas.New(&tc.o)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// TestContextCancel checks a blocking Ping leaves on its context.
func TestContextCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 1})
	c := e.client(t, nil)
	folders, err := c.Folders(t.Context())
	require.NoError(t, err)
	inbox := inboxOf(t, folders)
	_, err = c.SyncFolder(t.Context(), inbox.ServerID, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Ping(ctx, time.Minute, []eas.PingFolder{{ID: inbox.ServerID}})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestNoTokenInOutput formats every value that could hold the token.
func TestNoTokenInOutput(t *testing.T) {
	t.Parallel()
	const secret = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2ln"
	o := eas.Options{Mailbox: "u@contoso.test", DeviceID: "d1", Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: secret})}
	c, err := eas.New(&o)
	require.NoError(t, err)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(format, o), secret, format)
		assert.NotContains(t, fmt.Sprintf(format, &o), secret, format)
		assert.NotContains(t, fmt.Sprintf(format, c), secret, format)
	}
	assert.Contains(t, fmt.Sprint(o), "u@contoso.test")
}

// TestRemoteWipeNotAcknowledged: status 140 leads to Provision, whose
// RemoteWipe the client refuses to acknowledge.
func TestRemoteWipeNotAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 1})
	c := e.client(t, nil)
	_, err := c.Folders(t.Context())
	require.NoError(t, err)
	e.srv.RequestRemoteWipe()
	_, err = c.Folders(t.Context())
	require.ErrorIs(t, err, eas.ErrRemoteWipe)
	assert.Equal(t, 3, e.srv.Requests("Provision"), "one Provision request, no acknowledgement")
	e.srv.ClearRemoteWipe()
	_, err = c.Folders(t.Context())
	require.NoError(t, err, "provisions normally once the wipe is cancelled")
}

// TestConcurrentReprovisionOnce: many commands refused at once with 449
// lead to a single two-phase Provision.
func TestConcurrentReprovisionOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 1})
	c := e.client(t, nil)
	_, err := c.Provision(t.Context())
	require.NoError(t, err)
	e.srv.ForceReprovision(0)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.FolderSync(t.Context(), "0")
			errs <- err
		}()
	}
	for range 8 {
		assert.NoError(t, <-errs)
	}
	assert.Equal(t, 4, e.srv.Requests("Provision"), "the first Provision, then exactly one more")
}

// TestServerOptionsSpecSample parses the OPTIONS response of the
// [MS-ASHTTP] example (an Exchange 2010 server: versions up to 14.0).
func TestServerOptionsSpecSample(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions || r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(400)
			return
		}
		h := w.Header()
		h.Set("Allow", "OPTIONS,POST")
		h.Set("MS-Server-ActiveSync", "14.00.0536.000")
		h.Set("MS-ASProtocolVersions", "2.0,2.1,2.5,12.0,12.1,14.0")
		h.Set("MS-ASProtocolCommands", "Sync,SendMail,SmartForward,SmartReply,GetAttachment,GetHierarchy, CreateCollection,DeleteCollection,MoveCollection,FolderSync,FolderCreate, FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search, Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert")
		h.Set("Public", "OPTIONS,POST")
		h.Set("Content-Length", "0")
	}))
	t.Cleanup(srv.Close)
	c, err := eas.New(&eas.Options{URL: srv.URL + "/Microsoft-Server-ActiveSync", Mailbox: "u", DeviceID: "d1",
		Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), Transport: srv.Client().Transport})
	require.NoError(t, err)
	info, err := c.ServerOptions(t.Context())
	assert.ErrorContains(t, err, "none of which this client speaks")
	require.NotNil(t, info)
	assert.Equal(t, "14.00.0536.000", info.Server)
	assert.Equal(t, []string{"2.0", "2.1", "2.5", "12.0", "12.1", "14.0"}, info.Versions)
	assert.Len(t, info.Commands, 23)
	assert.True(t, info.SupportsCommand("CreateCollection"), "spaces after commas are trimmed")
	assert.False(t, info.Supports("14.1"))
}

// rtSource is a minimal delegated source over x/oauth2 with nothing
// cached at start: it redeems its refresh token on first use, and
// implements Invalidate (compare-and-drop).
type rtSource struct {
	cfg *oauth2.Config
	hc  *http.Client

	mu  sync.Mutex // guards cur
	cur *oauth2.Token
}

func (s *rtSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Valid() {
		return s.cur, nil
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.hc)
	tok, err := s.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: s.cur.RefreshToken}).Token()
	if err != nil {
		return nil, err
	}
	s.cur = tok
	return tok, nil
}

func (s *rtSource) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok != nil && s.cur.AccessToken == tok.AccessToken {
		s.cur = &oauth2.Token{RefreshToken: s.cur.RefreshToken}
	}
}

// Test401ThenSuccessColdSource: with a source that holds no access token,
// a command answered 401 once costs exactly 2 token requests: the first
// token and the fresh one after the 401.
func Test401ThenSuccessColdSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t, eastest.Options{Messages: 1})
	c := cloud.Global
	c.AuthorityHost = e.idp.URL()
	scopes := c.DelegatedScopes(cloud.EAS)
	src := &rtSource{
		cfg: &oauth2.Config{ClientID: testClient, Scopes: scopes,
			Endpoint: oauth2.Endpoint{TokenURL: e.idp.TokenURL(testTenant), AuthStyle: oauth2.AuthStyleInParams}},
		hc:  e.idp.HTTPClient(),
		cur: &oauth2.Token{RefreshToken: e.idp.IssueRefreshToken(testTenant, testClient, testUser, scopes)},
	}
	cl := e.client(t, func(o *eas.Options) { o.Token = src })
	e.idp.ResetCounters()
	e.srv.Reject401Once(1)
	_, err := cl.ServerOptions(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 2, e.idp.TotalRequests(), "exactly two token requests")
	assert.Equal(t, 2, e.srv.Requests("OPTIONS"))
	_, err = cl.Folders(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 2, e.idp.TotalRequests(), "no more afterwards")
}

func TestNilOptionsAndLoopbackOnlyHTTP(t *testing.T) {
	t.Parallel()
	_, err := eas.New(nil)
	assert.ErrorContains(t, err, "Options.Token must be set")
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	c, err := eas.New(&eas.Options{URL: "http://mail.contoso.test/Microsoft-Server-ActiveSync", Token: src, Mailbox: "u@contoso.test", DeviceID: "d1", InsecureAllowHTTP: true})
	require.NoError(t, err)
	_, err = c.FolderSync(t.Context(), "0")
	assert.ErrorIs(t, err, mailauth.ErrInsecure, "InsecureAllowHTTP holds on loopback only")
}

// A Contacts or Calendar folder gives contacts and events, not empty
// messages: each item says its class and carries its own properties.
func TestSyncContactsAndCalendar(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t, eastest.Options{Messages: 2})
	start := time.Date(2026, 12, 14, 9, 30, 0, 0, time.UTC)
	e.srv.AddContact(testUser, eastest.Contact{FirstName: "Ada", LastName: "Lovelace", CompanyName: "Analytical Engines",
		JobTitle: "Programmer", Email: "ada@contoso.test", MobilePhone: "+1 555 0100", Birthday: time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)})
	e.srv.AddEvent(testUser, eastest.Event{UID: "040000008200E00074C5B7101A82E008", Subject: "Migration review", Location: "Room 4",
		Start: start, End: start.Add(time.Hour), OrganizerName: "Ada", OrganizerEmail: "ada@contoso.test", Attendees: []string{"bob@contoso.test"}})

	c := e.client(t, nil)
	folders, err := c.Folders(ctx)
	require.NoError(t, err)
	byType := map[eas.FolderType]eas.Folder{}
	for _, f := range folders {
		byType[f.Type] = f
	}

	res, err := c.SyncFolder(ctx, byType[eas.FolderContacts].ServerID, nil)
	require.NoError(t, err)
	require.Len(t, res.Added, 1)
	it := res.Added[0]
	assert.Equal(t, eas.ClassContacts, it.Class)
	assert.Nil(t, it.Email, "a contact is not an empty message")
	require.NotNil(t, it.Contact)
	assert.Equal(t, eas.Contact{FileAs: "Lovelace, Ada", FirstName: "Ada", LastName: "Lovelace", CompanyName: "Analytical Engines",
		JobTitle: "Programmer", Email1Address: `"Ada Lovelace" <ada@contoso.test>`, MobilePhoneNumber: "+1 555 0100",
		Birthday: time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC), Body: eas.Body{Type: eas.BodyPlainText}}, *it.Contact)
	assert.Equal(t, "Lovelace, Ada", it.Data.ChildText("FileAs"), "the raw properties stay reachable")

	res, err = c.SyncFolder(ctx, byType[eas.FolderCalendar].ServerID, nil)
	require.NoError(t, err)
	require.Len(t, res.Added, 1)
	it = res.Added[0]
	assert.Equal(t, eas.ClassCalendar, it.Class)
	require.NotNil(t, it.Event)
	ev := it.Event
	assert.Equal(t, "Migration review", ev.Subject)
	assert.Equal(t, "Room 4", ev.Location)
	assert.True(t, ev.StartTime.Equal(start), "basic ISO 8601 (20261214T093000Z) read: %v", ev.StartTime)
	assert.True(t, ev.EndTime.Equal(start.Add(time.Hour)))
	assert.Equal(t, "ada@contoso.test", ev.OrganizerEmail)
	assert.Equal(t, []eas.Attendee{{Email: "bob@contoso.test", Name: "bob@contoso.test", Type: 1}}, ev.Attendees)
	assert.Equal(t, 2, ev.BusyStatus)

	res, err = c.SyncFolder(ctx, inboxOf(t, folders).ServerID, nil)
	require.NoError(t, err)
	require.Len(t, res.Added, 2)
	for _, it := range res.Added {
		assert.Equal(t, eas.ClassEmail, it.Class)
		require.NotNil(t, it.Email)
		assert.Nil(t, it.Contact)
		assert.Equal(t, it.ServerID, it.Email.ServerID)
	}
}
