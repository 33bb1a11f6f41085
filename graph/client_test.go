package graph_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

func TestNewOptions(t *testing.T) {
	_, err := graph.New(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Options.Token must be set")

	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	c, err := graph.New(&graph.Options{Token: src})
	require.NoError(t, err)
	assert.Equal(t, "https://graph.microsoft.com/v1.0", c.URL())
	assert.Equal(t, `graph.Client{URL:"https://graph.microsoft.com/v1.0" Mailbox:"me"}`, c.String())

	c, err = graph.New(&graph.Options{Token: src, Cloud: cloud.USGovDoD, Mailbox: "bob@contoso.us"})
	require.NoError(t, err)
	assert.Equal(t, "https://dod-graph.microsoft.us/v1.0", c.URL())
	assert.Equal(t, "bob@contoso.us", c.Mailbox())
	assert.Contains(t, c.String(), `users/bob@contoso.us`)

	c, err = graph.New(&graph.Options{Token: src, URL: "https://graph.microsoft.com/v1.0/"})
	require.NoError(t, err)
	assert.Equal(t, "https://graph.microsoft.com/v1.0", c.URL(), "a /v1.0 in URL is not doubled")

	for _, tc := range []struct {
		name string
		opts graph.Options
		want string
	}{
		{"http without the option", graph.Options{URL: "http://127.0.0.1:8080"}, "InsecureAllowHTTP"},
		{"http to a remote host", graph.Options{URL: "http://graph.example.com", InsecureAllowHTTP: true}, "loopback"},
		{"chunk size", graph.Options{ChunkSize: 1 << 20}, "320 KiB"},
		{"not a URL", graph.Options{URL: "graph.microsoft.com"}, "not an https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Token = src
			_, err := graph.New(&tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			if strings.HasPrefix(tc.opts.URL, "http://") {
				assert.ErrorIs(t, err, mailauth.ErrInsecure)
			}
		})
	}
	_, err = graph.New(&graph.Options{Token: src, URL: "http://127.0.0.1:8080", InsecureAllowHTTP: true})
	assert.NoError(t, err)
}

func TestFolders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{PageSize: 3})
	c := e.userClient(t, nil)
	ctx := t.Context()

	top, err := c.Folders(ctx, false)
	require.NoError(t, err)
	var names []string
	for _, f := range top {
		names = append(names, f.DisplayName)
	}
	assert.ElementsMatch(t, []string{"Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email", "Archive", "Outbox"}, names)

	inbox, err := c.Folder(ctx, graph.Inbox)
	require.NoError(t, err)
	assert.Equal(t, "Inbox", inbox.DisplayName)
	assert.Equal(t, 25, inbox.TotalItemCount)
	assert.Equal(t, 17, inbox.UnreadItemCount)
	assert.Equal(t, 1, inbox.ChildFolderCount)

	kids, err := c.ChildFolders(ctx, graph.Inbox)
	require.NoError(t, err)
	require.Len(t, kids, 1)
	assert.Equal(t, "Projects", kids[0].DisplayName)
	assert.Equal(t, inbox.ID, kids[0].ParentFolderID)

	f, err := c.CreateFolder(ctx, "", "Receipts")
	require.NoError(t, err)
	assert.Equal(t, "Receipts", f.DisplayName)
	sub, err := c.CreateFolder(ctx, f.ID, "2026")
	require.NoError(t, err)
	assert.Equal(t, f.ID, sub.ParentFolderID)
	got, err := c.FindFolder(ctx, f.ID, "2026")
	require.NoError(t, err)
	assert.Equal(t, sub.ID, got.ID)
	_, err = c.FindFolder(ctx, "", "nope")
	assert.ErrorIs(t, err, graph.ErrNotFound)

	_, err = c.CreateFolder(ctx, "", "receipts")
	var ge *graph.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusConflict, ge.StatusCode)
	assert.Equal(t, "ErrorFolderExists", ge.Code)
	assert.NotEmpty(t, ge.RequestID)
	assert.NotEmpty(t, ge.ClientRequestID)
	assert.Contains(t, err.Error(), "request-id "+ge.RequestID)
}

// Paging follows the absolute @odata.nextLink across pages and stops at Max without
// asking for another page.
func TestMessagesPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	c := e.userClient(t, nil)
	var subjects []string
	for m, err := range c.Messages(t.Context(), graph.Inbox, &graph.ListOptions{Top: 7}) {
		require.NoError(t, err)
		subjects = append(subjects, m.Subject)
	}
	require.Len(t, subjects, 25)
	for i, s := range subjects {
		assert.Equal(t, fmt.Sprintf("Message %d", i+1), s)
	}
	reqs := e.srv.Requests()
	require.Len(t, reqs, 4, "4 pages of 7")
	assert.Contains(t, reqs[0].Query, "$top=7")
	assert.Contains(t, reqs[0].Query, "$orderby=receivedDateTime%20desc")
	assert.Contains(t, reqs[3].Query, "skip=21")

	e.srv.ResetCounters()
	n := 0
	for m, err := range c.Messages(t.Context(), graph.Inbox, &graph.ListOptions{Top: 10, Max: 12}) {
		require.NoError(t, err)
		n++
		assert.NotEmpty(t, m.ID)
		assert.NotEmpty(t, m.From.EmailAddress.Address)
		assert.False(t, m.ReceivedDateTime.IsZero())
	}
	assert.Equal(t, 12, n)
	assert.Len(t, e.srv.Requests(), 2)

	// Filter, order and select reach the server.
	var unread []string
	for m, err := range c.Messages(t.Context(), graph.Inbox, &graph.ListOptions{Filter: "isRead eq false", OrderBy: "receivedDateTime asc", Select: []string{"subject", "isRead"}}) {
		require.NoError(t, err)
		assert.False(t, m.IsRead)
		assert.Empty(t, m.BodyPreview, "not selected")
		unread = append(unread, m.Subject)
	}
	require.Len(t, unread, 17)
	assert.Equal(t, "Message 25", unread[0])

	// A bad filter is a typed error from the first page.
	for _, err := range c.Messages(t.Context(), graph.Inbox, &graph.ListOptions{Filter: "nonsense"}) {
		var ge *graph.Error
		require.ErrorAs(t, err, &ge)
		assert.Equal(t, http.StatusBadRequest, ge.StatusCode)
	}
}

func TestMessageOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: 6})
	c := e.userClient(t, nil)
	ctx := t.Context()
	rest, _ := e.srv.MessageIDs(alice, "inbox")
	id := rest[0]

	m, err := c.Message(ctx, id, &graph.GetOptions{TextBody: true})
	require.NoError(t, err)
	assert.Equal(t, "Message 1", m.Subject)
	assert.Equal(t, "Hello, this is message 1.", m.Body.Content)
	assert.Equal(t, "<msg-1@fabrikam.test>", m.InternetMessageID)

	r, err := c.MIME(ctx, id)
	require.NoError(t, err)
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Contains(t, string(raw), "Subject: Message 1\r\n")
	assert.Contains(t, string(raw), "Hello, this is message 1.")

	require.NoError(t, c.SetRead(ctx, id, true))
	require.NoError(t, c.SetFlag(ctx, id, graph.Flagged))
	m, err = c.Message(ctx, id, nil)
	require.NoError(t, err)
	assert.True(t, m.IsRead)
	assert.Equal(t, graph.Flagged, m.Flag.FlagStatus)
	assert.Error(t, c.SetFlag(ctx, id, "urgent"))

	moved, err := c.Move(ctx, id, graph.Archive)
	require.NoError(t, err)
	assert.NotEqual(t, id, moved.ID, "a move changes the REST id")
	assert.Equal(t, []string{"Message 1"}, e.srv.Messages(alice, "archive"))
	_, err = c.Message(ctx, id, nil)
	assert.ErrorIs(t, err, graph.ErrNotFound)
	var ge *graph.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, graph.CodeItemNotFound, ge.Code)
	assert.Contains(t, ge.Hint(), "ImmutableIDs")

	cp, err := c.Copy(ctx, moved.ID, graph.Inbox)
	require.NoError(t, err)
	assert.Equal(t, "Message 1", cp.Subject)
	require.NoError(t, c.Delete(ctx, moved.ID))
	assert.Empty(t, e.srv.Messages(alice, "archive"))
	assert.Len(t, e.srv.Messages(alice, "inbox"), 6)
}

// With ImmutableIDs every request asks for immutable ids, and an id survives a move.
func TestImmutableIDsAndTranslation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: 3})
	c := e.userClient(t, func(o *graph.Options) { o.ImmutableIDs = true })
	ctx := t.Context()
	rest, imm := e.srv.MessageIDs(alice, "inbox")
	var ids []string
	for m, err := range c.Messages(ctx, graph.Inbox, nil) {
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	assert.Equal(t, imm, ids)
	for _, r := range e.srv.Requests() {
		assert.Equal(t, `IdType="ImmutableId"`, r.Prefer)
	}
	// Stored EWS ids (standard base64 of the same bytes) translate to immutable ids.
	ews := make([]string, len(rest))
	for i, id := range rest {
		ews[i] = strings.NewReplacer("-", "+", "_", "/").Replace(id)
		require.NotEqual(t, id, ews[i], "the seeded ids exercise the two alphabets")
	}
	got, err := c.TranslateExchangeIDs(ctx, ews, graph.EWSID, graph.RESTImmutableEntryID)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i := range got {
		assert.Equal(t, ews[i], got[i].SourceID)
		assert.Equal(t, imm[i], got[i].TargetID)
	}
	_, err = c.TranslateExchangeIDs(ctx, ews, "", graph.RESTID)
	assert.Error(t, err)

	moved, err := c.Move(ctx, ids[0], graph.Archive)
	require.NoError(t, err)
	assert.Equal(t, ids[0], moved.ID, "an immutable id survives a move")
	m, err := c.Message(ctx, ids[0], nil)
	require.NoError(t, err)
	assert.Equal(t, "Message 1", m.Subject)
}

func TestAttachments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: 5})
	c := e.userClient(t, nil)
	ctx := t.Context()
	rest, _ := e.srv.MessageIDs(alice, "inbox")
	id := rest[4] // message 5 has an attachment
	atts, err := c.Attachments(ctx, id)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	assert.Equal(t, "note-5.txt", atts[0].Name)
	assert.Equal(t, int64(len("attachment of message 5\n")), atts[0].Size)
	assert.Equal(t, "#microsoft.graph.fileAttachment", atts[0].ODataType)
	r, err := c.AttachmentContent(ctx, id, atts[0].ID)
	require.NoError(t, err)
	b, _ := io.ReadAll(r)
	r.Close()
	assert.Equal(t, "attachment of message 5\n", string(b))

	// A small file goes in one POST, a large one through an upload session whose chunk is
	// cut off half way once: the upload resumes where the session says.
	small := []byte("small file")
	aid, err := c.AddAttachment(ctx, id, &graph.NewAttachment{Name: "s.txt", ContentType: "text/plain", Content: strings.NewReader(string(small)), Size: int64(len(small))})
	require.NoError(t, err)
	assert.NotEmpty(t, aid)

	big := pattern(5<<20 + 123)
	e.srv.CutUploads(1)
	aid, err = c.AddAttachment(ctx, id, &graph.NewAttachment{Name: "big.bin", Content: strings.NewReader(string(big)), Size: int64(len(big))})
	require.NoError(t, err)
	require.NotEmpty(t, aid)
	r, err = c.AttachmentContent(ctx, id, aid)
	require.NoError(t, err)
	b, _ = io.ReadAll(r)
	r.Close()
	assert.True(t, string(b) == string(big), "the uploaded bytes are intact after a resume")
	assert.Zero(t, e.srv.UploadsWithAuthorization())

	_, err = c.AddAttachment(ctx, id, &graph.NewAttachment{Name: "huge", Content: strings.NewReader(""), Size: graph.MaxAttachmentSize + 1})
	assert.ErrorContains(t, err, "up to")
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// A 429 with Retry-After is waited out and retried; so are 503 and 504. A Retry-After
// longer than the context allows comes back at once as a typed error.
func TestThrottlingWaitedOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	c := e.userClient(t, nil)
	e.srv.Throttle(1, http.StatusTooManyRequests, time.Second)
	start := time.Now()
	_, err := c.Folder(t.Context(), graph.Inbox)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second)
	assert.Equal(t, []int{429, 200}, e.statuses())

	for _, st := range []int{http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		e.srv.ResetCounters()
		e.srv.Throttle(1, st, time.Second)
		_, err = c.Folder(t.Context(), graph.Inbox)
		require.NoError(t, err)
		assert.Equal(t, []int{st, 200}, e.statuses())
	}

	e.srv.Throttle(1, http.StatusTooManyRequests, 30*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start = time.Now()
	_, err = c.Folder(ctx, graph.Inbox)
	assert.Less(t, time.Since(start), 4*time.Second, "returned without waiting")
	assert.ErrorIs(t, err, graph.ErrThrottled)
	var ge *graph.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 30*time.Second, ge.RetryAfter)
	assert.True(t, ge.Temporary())
	assert.Contains(t, ge.Hint(), "4 concurrent requests")
}

// 50 goroutines on one client (and on clients made with ForMailbox) never have more than
// 4 requests in flight for the mailbox, as the server sees it.
func TestConcurrencyCapPerMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Latency: 20 * time.Millisecond, ConcurrencyLimit: 4})
	c := e.client(t, e.appToken(t), shared, func(o *graph.Options) { o.MaxRetries = -1 })
	other := c.ForMailbox(bob)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := c
			if i%2 == 1 {
				cl = c.ForMailbox(shared) // another client, same mailbox, same slots
			}
			if i%10 == 9 {
				cl = other
			}
			if _, err := cl.Folder(t.Context(), graph.Inbox); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		}(i)
	}
	wg.Wait()
	assert.Zero(t, failed.Load(), "no request was throttled")
	assert.LessOrEqual(t, e.srv.MaxConcurrent(shared), 4)
	assert.GreaterOrEqual(t, e.srv.MaxConcurrent(shared), 2)
	assert.LessOrEqual(t, e.srv.MaxConcurrent(bob), 4)
	assert.Len(t, e.srv.Requests(), 50)
}

// A delta round pages with nextLink and ends with a deltaLink; a new client (another
// process) resumes from a saved link, mid-round or after it.
func TestDeltaSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: 12})
	c := e.userClient(t, nil)
	ctx := t.Context()

	first, err := c.SyncMessages(ctx, graph.Inbox, "", &graph.SyncOptions{PageSize: 5})
	require.NoError(t, err)
	require.True(t, first.More)
	assert.Len(t, first.Changed, 5)
	saved := first.State // a process stops here and saves the link

	c2 := e.userClient(t, nil)
	seen := len(first.Changed)
	state := saved
	for {
		page, err := c2.SyncMessages(ctx, graph.Inbox, state, nil)
		require.NoError(t, err)
		seen += len(page.Changed)
		state = page.State
		if !page.More {
			break
		}
	}
	assert.Equal(t, 12, seen)
	assert.Contains(t, state, "deltatoken")

	// Changes after the round: a new message, one read, one moved out.
	_, err = e.srv.Deliver(alice, "inbox", graphtest.Message{Subject: "Fresh", From: graphtest.Address{Address: "x@fabrikam.test"}})
	require.NoError(t, err)
	rest, _ := e.srv.MessageIDs(alice, "inbox")
	require.NoError(t, c.SetRead(ctx, rest[1], true))
	require.NoError(t, func() error { _, err := c.Move(ctx, rest[2], graph.Archive); return err }())

	c3 := e.userClient(t, nil)
	ch, err := c3.SyncMessages(ctx, graph.Inbox, state, nil)
	require.NoError(t, err)
	assert.False(t, ch.More)
	var subjects []string
	for _, m := range ch.Changed {
		subjects = append(subjects, m.Subject)
	}
	assert.ElementsMatch(t, []string{"Fresh", "Message 1"}, subjects)
	assert.Equal(t, []string{rest[2]}, ch.Removed)

	// Folders: a full round, then the new folder alone.
	var fstate string
	n := 0
	for {
		p, err := c.SyncFolders(ctx, fstate, 4)
		require.NoError(t, err)
		n += len(p.Changed)
		fstate = p.State
		if !p.More {
			break
		}
	}
	assert.Equal(t, 8, n)
	_, err = c.CreateFolder(ctx, graph.Inbox, "Later")
	require.NoError(t, err)
	p, err := c.SyncFolders(ctx, fstate, 0)
	require.NoError(t, err)
	require.Len(t, p.Changed, 1)
	assert.Equal(t, "Later", p.Changed[0].DisplayName)

	_, err = c.SyncMessages(ctx, "", "", nil)
	assert.Error(t, err)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	c := e.userClient(t, nil)
	ctx := t.Context()
	rest, _ := e.srv.MessageIDs(alice, "inbox")
	var reqs []graph.BatchRequest
	for _, id := range rest {
		reqs = append(reqs, graph.BatchRequest{URL: "messages/" + id + "?$select=subject"})
	}
	res, err := c.Batch(ctx, reqs)
	require.NoError(t, err)
	require.Len(t, res, 25)
	for i, r := range res {
		var m graph.Message
		require.NoError(t, r.Decode(&m))
		assert.Equal(t, fmt.Sprintf("Message %d", i+1), m.Subject)
		assert.Equal(t, fmt.Sprint(i+1), r.ID)
	}
	batches := 0
	for _, r := range e.srv.Requests() {
		if r.Path == "/v1.0/$batch" {
			batches++
		}
	}
	assert.Equal(t, 2, batches, "20 + 5")

	// dependsOn and a failing item: PATCH then GET; an unknown id fails alone.
	res, err = c.Batch(ctx, []graph.BatchRequest{
		{ID: "mark", Method: "PATCH", URL: "messages/" + rest[0], Body: map[string]bool{"isRead": true}},
		{ID: "get", URL: "messages/" + rest[0] + "?$select=isRead", DependsOn: []string{"mark"}},
		{ID: "bad", URL: "messages/AAMkNOPE"},
		{ID: "after-bad", URL: "messages/" + rest[1], DependsOn: []string{"bad"}},
	})
	require.NoError(t, err)
	var m graph.Message
	require.NoError(t, res[1].Decode(&m))
	assert.True(t, m.IsRead)
	assert.ErrorIs(t, res[2].Err(), graph.ErrNotFound)
	assert.Equal(t, http.StatusFailedDependency, res[3].Status)

	_, err = c.Batch(ctx, append(make([]graph.BatchRequest, 20), graph.BatchRequest{URL: "messages", DependsOn: []string{"1"}}))
	assert.ErrorContains(t, err, "same group")

	// Throttled items are sent again after Retry-After.
	e.srv.ResetCounters()
	e.srv.Throttle(2, http.StatusTooManyRequests, time.Second)
	res, err = c.Batch(ctx, reqs[:3])
	require.NoError(t, err)
	for _, r := range res {
		assert.NoError(t, r.Err())
	}
}

// Sending: JSON sendMail, raw MIME, and JSON too big for one request.
func TestSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: -1})
	c := e.userClient(t, nil)
	ctx := t.Context()
	require.NoError(t, c.Send(ctx, &graph.Mail{Subject: "Hi", Body: "<b>hello</b>", HTML: true, To: []string{"Bob <bob@contoso.test>"},
		Attachments: []graph.FileAttachment{{Name: "a.txt", ContentType: "text/plain", Content: []byte("A")}}}))
	msg := "From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: MIME hello\r\n\r\nbody\r\n"
	require.NoError(t, c.SendMIME(ctx, strings.NewReader(msg)))
	sent := e.srv.Sent()
	require.Len(t, sent, 2)
	assert.Equal(t, "sendMail", sent[0].Via)
	assert.Equal(t, []string{"bob@contoso.test"}, sent[0].To)
	assert.Equal(t, "A", string(sent[0].Attachments[0].Data))
	assert.Equal(t, "sendMail MIME", sent[1].Via)
	assert.Equal(t, msg, string(sent[1].MIME))
	reqs := e.srv.Requests()
	assert.Equal(t, "text/plain", reqs[1].ContentType)
	assert.Equal(t, []int{202, 202}, e.statuses())
	assert.ElementsMatch(t, []string{"Hi", "MIME hello"}, e.srv.Messages(alice, "sentitems"))

	err := c.Send(ctx, &graph.Mail{Subject: "nobody"})
	assert.ErrorContains(t, err, "recipient")

	// JSON over 4 MB: draft + attachments + send.
	e.srv.ResetCounters()
	big := pattern(4 << 20)
	require.NoError(t, c.Send(ctx, &graph.Mail{Subject: "Big", Body: "see attached", To: []string{bob},
		Attachments: []graph.FileAttachment{{Name: "big.bin", Content: big}}}))
	sent = e.srv.Sent()
	require.Len(t, sent, 3)
	assert.Equal(t, "draft", sent[2].Via)
	assert.True(t, string(sent[2].Attachments[0].Data) == string(big))
}

// A 12 MB MIME message goes through a draft made of the MIME without the large
// attachment, an upload session in chunks of a multiple of 320 KiB to another host
// without the token, and the draft's send; the attachment's bytes arrive intact.
func TestSendMIMELargeThroughUploadSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: -1})
	c := e.userClient(t, nil)
	big := pattern(12 << 20)
	small := []byte("a small note that stays in the MIME\n")
	msg := buildMIME(t, "Quarterly numbers", map[string][]byte{"numbers.bin": big, "note.txt": small})
	require.Greater(t, len(msg), 12<<20)
	require.NoError(t, c.SendMIME(t.Context(), strings.NewReader(string(msg))))

	sent := e.srv.Sent()
	require.Len(t, sent, 1)
	s := sent[0]
	assert.Equal(t, "draft", s.Via)
	assert.Equal(t, "Quarterly numbers", s.Subject)
	assert.Less(t, len(s.MIME), 4<<20, "the draft's MIME lost the large part")
	assert.Contains(t, string(s.MIME), "note.txt", "the small attachment stayed in the MIME")
	assert.NotContains(t, string(s.MIME), "numbers.bin")
	require.Len(t, s.Attachments, 1)
	assert.Equal(t, "numbers.bin", s.Attachments[0].Name)
	assert.Equal(t, "application/octet-stream", s.Attachments[0].ContentType)
	assert.True(t, string(s.Attachments[0].Data) == string(big), "attachment bytes intact")

	puts := 0
	for _, r := range e.srv.Requests() {
		if r.Method == http.MethodPut {
			puts++
			assert.False(t, r.Authorization, "an upload PUT carried Authorization")
			assert.True(t, strings.HasPrefix(r.Host, "localhost:"), "uploads go to the session's host")
		} else {
			assert.True(t, strings.HasPrefix(r.Host, "127.0.0.1:"))
		}
	}
	assert.Equal(t, 4, puts, "12 MiB in chunks of 3.75 MiB")
	assert.Zero(t, e.srv.UploadsWithAuthorization())

	// Not multipart and too large: refused before anything is sent.
	e.srv.ResetCounters()
	err := c.SendMIME(t.Context(), strings.NewReader("Subject: x\r\nTo: bob@contoso.test\r\n\r\n"+strings.Repeat("x", 3<<20)))
	assert.ErrorContains(t, err, "not multipart")
	assert.Empty(t, e.srv.Requests())
}

// buildMIME builds a multipart/mixed message with a text part and base64 attachments.
func buildMIME(t testing.TB, subject string, files map[string][]byte) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("From: Alice <alice@contoso.test>\r\nTo: bob@contoso.test\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\nThis is a MIME message.\r\n")
	b.WriteString("--b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachments.\r\n")
	names := []string{"note.txt", "numbers.bin"}
	for _, name := range names {
		data, ok := files[name]
		if !ok {
			continue
		}
		ct := "application/octet-stream"
		if strings.HasSuffix(name, ".txt") {
			ct = "text/plain"
		}
		b.WriteString("--b0undary\r\nContent-Type: " + ct + "; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name +
			"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		enc := base64Lines(data)
		b.WriteString(enc)
	}
	b.WriteString("--b0undary--\r\n")
	return []byte(b.String())
}

// Upload URLs and links: a nextLink or delta link on another host or on http gets nothing
// (a second server proves no request arrived); an upload URL on another https host gets
// its PUT without Authorization; an upload URL on http gets nothing.
func TestTokenStaysOnGraphHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{PageSize: 5})
	c := e.userClient(t, nil)
	ctx := t.Context()

	// A second Graph server under the same CA: it would accept the client's TLS.
	other, err := graphtest.New(graphtest.Options{Verify: e.idp.Verify, TLS: e.srv.CA().ServerConfig(), Mailboxes: []string{alice}})
	require.NoError(t, err)
	defer other.Close()
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits.Add(1) }))
	defer plain.Close()

	for _, tc := range []struct {
		name, base string
		want       error
	}{
		{"nextLink on another host", other.URL(), graph.ErrUntrustedLink},
		{"nextLink on http", plain.URL, mailauth.ErrInsecure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.srv.SetLinkBase(tc.base)
			n, errs := 0, 0
			for _, err := range c.Messages(ctx, graph.Inbox, nil) {
				if err != nil {
					errs++
					assert.ErrorIs(t, err, tc.want)
					continue
				}
				n++
			}
			assert.Equal(t, 25, n, "the first page (Top 50 > 25): no link")
			for _, err := range c.Messages(ctx, graph.Inbox, &graph.ListOptions{Top: 5}) {
				if err != nil {
					errs++
					assert.ErrorIs(t, err, tc.want)
				}
			}
			assert.Equal(t, 1, errs)
			_, err := c.SyncMessages(ctx, graph.Inbox, tc.base+"/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=x", nil)
			assert.ErrorIs(t, err, tc.want)
			first, err := c.SyncMessages(ctx, graph.Inbox, "", nil)
			if assert.Error(t, err, "a delta page whose next link is elsewhere") {
				assert.ErrorIs(t, err, tc.want)
			}
			_ = first
		})
	}
	e.srv.SetLinkBase(e.srv.URL())
	assert.Empty(t, other.Requests(), "nothing reached the other host")
	assert.Zero(t, plainHits.Load(), "nothing reached the http server")

	rest, _ := e.srv.MessageIDs(alice, "inbox")
	data := pattern(3_500_000)
	// Upload URL on another https host: the PUT goes there, without Authorization.
	e.srv.SetUploadBase(other.URL())
	_, err = c.AddAttachment(ctx, rest[0], &graph.NewAttachment{Name: "x.bin", Content: strings.NewReader(string(data)), Size: int64(len(data))})
	assert.Error(t, err, "the other server knows no such session")
	require.NotEmpty(t, other.Requests())
	for _, r := range other.Requests() {
		assert.False(t, r.Authorization, "the token reached the upload host")
		assert.Equal(t, http.MethodPut, r.Method)
	}
	// Upload URL on http: refused, nothing sent.
	e.srv.SetUploadBase(plain.URL)
	_, err = c.AddAttachment(ctx, rest[0], &graph.NewAttachment{Name: "x.bin", Content: strings.NewReader(string(data)), Size: int64(len(data))})
	assert.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.Zero(t, plainHits.Load())
	assert.Zero(t, e.srv.UploadsWithAuthorization()+other.UploadsWithAuthorization())
}

// An Exchange Online token is refused before it is sent, with the Graph scope as the fix;
// a token the server finds for another audience gets the same hint.
func TestWrongAudience(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	c := e.client(t, e.token(t, "https://outlook.office365.com", alice, []string{"EWS.AccessAsUser.All"}, nil), "", nil)
	_, err := c.Folder(t.Context(), graph.Inbox)
	assert.ErrorIs(t, err, graph.ErrWrongAudience)
	assert.Contains(t, err.Error(), "https://graph.microsoft.com/.default")
	assert.Empty(t, e.srv.Requests(), "the Exchange token was sent")

	c = e.client(t, e.token(t, "api://contoso-app", alice, []string{"Mail.Read"}, nil), "", nil)
	_, err = c.Folder(t.Context(), graph.Inbox)
	var ge *graph.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusUnauthorized, ge.StatusCode)
	assert.Equal(t, graph.CodeInvalidAuthenticationToken, ge.Code)
	assert.ErrorIs(t, err, graph.ErrWrongAudience)
	assert.Contains(t, ge.Hint(), "not for Microsoft Graph")
}

// The errors people meet, each with its hint.
func TestErrorHints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Mailboxes: []string{alice, bob, shared, "onprem@contoso.test"}})
	ctx := t.Context()
	e.srv.RestrictApp(appID, shared)
	e.srv.DisableREST("onprem@contoso.test")
	app := e.appToken(t)

	_, err := e.client(t, app, bob, nil).Folder(ctx, graph.Inbox)
	var ge *graph.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, graph.CodeAccessDenied, ge.Code)
	assert.ErrorIs(t, err, graph.ErrAccessDenied)
	assert.True(t, ge.Identity.AppOnly())
	assert.Contains(t, ge.Hint(), "RBAC for Applications")
	assert.Contains(t, ge.Hint(), "New-ManagementRoleAssignment")

	_, err = e.client(t, app, shared, nil).Folder(ctx, graph.Inbox)
	assert.NoError(t, err, "in the app's scope")

	_, err = e.client(t, e.userToken(t), bob, nil).Folder(ctx, graph.Inbox)
	require.ErrorAs(t, err, &ge)
	assert.Contains(t, ge.Hint(), "Mail.ReadWrite.Shared")
	_, err = e.client(t, e.userToken(t), shared, nil).Folder(ctx, graph.Inbox)
	assert.NoError(t, err, "alice has FullAccess on the shared mailbox")

	_, err = e.client(t, app, "onprem@contoso.test", nil).Folder(ctx, graph.Inbox)
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, graph.CodeMailboxNotEnabledForREST, ge.Code)
	assert.Contains(t, ge.Hint(), "on-premises")

	_, err = e.client(t, app, "nobody@contoso.test", nil).Folder(ctx, graph.Inbox)
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, graph.CodeInvalidUser, ge.Code)
	assert.Contains(t, ge.Hint(), "nobody@contoso.test")

	_, err = e.client(t, app, "", nil).Folder(ctx, graph.Inbox)
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusBadRequest, ge.StatusCode)
	assert.Contains(t, ge.Message, "/me request is only valid with delegated")

	// A delegated token without Mail.Send cannot send.
	ro := e.client(t, e.token(t, graphA, alice, []string{"Mail.Read"}, nil), "", nil)
	err = ro.Send(ctx, &graph.Mail{Subject: "x", To: []string{bob}})
	assert.ErrorIs(t, err, graph.ErrAccessDenied)
}

// Nothing the client logs or returns holds the token or an upload URL's authtoken.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: 1})
	var logs strings.Builder
	var mu sync.Mutex
	src := e.userToken(t)
	tok, _ := src.Token()
	c := e.client(t, src, "", func(o *graph.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	rest, _ := e.srv.MessageIDs(alice, "inbox")
	s, err := c.CreateUploadSession(t.Context(), rest[0], &graph.AttachmentItem{Name: "f", Size: 10})
	require.NoError(t, err)
	assert.Contains(t, s.URL, "authtoken=")
	assert.NotContains(t, s.String(), "authtoken")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", s, s, s), "authtoken")
	_, err = c.Upload(t.Context(), s, strings.NewReader("short"))
	require.Error(t, err)
	_, err = c.Message(t.Context(), "AAMkNOPE", nil)
	require.Error(t, err)
	mu.Lock()
	all := logs.String() + err.Error() + fmt.Sprintf("%v %#v", c, c)
	mu.Unlock()
	assert.NotContains(t, all, tok.AccessToken)
	assert.NotContains(t, all, "authtoken")
	assert.Contains(t, all, "status=404")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A 401 with an invalidating source fetches a fresh token and retries once.
func TestInvalidateOn401(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{Items: 1})
	good, _ := e.userToken(t).Token()
	bad, _ := e.token(t, graphA, alice, []string{"Mail.Read"}, nil).Token()
	bad.AccessToken = bad.AccessToken[:len(bad.AccessToken)-4] + "AAAA" // a broken signature
	src := &swapSource{toks: []*oauth2.Token{bad, good}}
	c := e.client(t, src, "", nil)
	_, err := c.Folder(t.Context(), graph.Inbox)
	require.NoError(t, err)
	assert.Equal(t, []int{401, 200}, e.statuses())
	assert.Equal(t, 1, src.invalidated)
}

type swapSource struct {
	mu          sync.Mutex
	toks        []*oauth2.Token
	invalidated int
}

func (s *swapSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.toks[0], nil
}

func (s *swapSource) Invalidate(t *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.toks[0] == t && len(s.toks) > 1 {
		s.toks = s.toks[1:]
		s.invalidated++
	}
}
