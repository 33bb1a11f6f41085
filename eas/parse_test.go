package eas

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/eas/wbxml"
)

func readVector(t testing.TB, name string) *wbxml.Node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wbxml"))
	require.NoError(t, err)
	n, err := wbxml.Unmarshal(b)
	require.NoError(t, err, "Unmarshal %s", name)
	return n
}

// The published vectors (libwbxml, hstern) are responses other servers
// and tools produced; the parsers must read them.

func TestParseSyncVector(t *testing.T) {
	r, err := parseSync(readVector(t, "libwbxml_sync_response_email"), "14", "")
	require.NoError(t, err)
	assert.Equal(t, "16668481", r.SyncKey)
	require.Len(t, r.Added, 1)
	require.Equal(t, ClassEmail, r.Added[0].Class)
	require.NotNil(t, r.Added[0].Email)
	m := r.Added[0].Email
	assert.Equal(t, "14:4", m.ServerID)
	assert.Equal(t, "Hello world!", m.Subject)
	assert.Equal(t, `"Momo" <momo@example.org>`, m.From)
	assert.Equal(t, `"Moti" <moti@example.com>`, m.To)
	assert.True(t, m.Read)
	assert.Equal(t, 1, m.Importance)
	assert.Equal(t, time.Date(2010, 12, 28, 22, 30, 9, 906e6, time.UTC), m.DateReceived)
	assert.Equal(t, Body{Type: BodyHTML, EstimatedDataSize: 8224, Truncated: true, Data: "Bla bla bla", Preview: "Guten tag"}, m.Body)
	assert.False(t, r.MoreAvailable)

	_, err = parseSync(readVector(t, "libwbxml_sync_response_email"), "15", "")
	var pe *ProtocolError
	assert.ErrorAs(t, err, &pe, "a collection that is not in the response")
}

func TestParseFolderSyncVectors(t *testing.T) {
	fc, err := parseFolderSync(readVector(t, "libwbxml_foldersync_response"))
	require.NoError(t, err)
	assert.Equal(t, "1", fc.SyncKey)
	require.NotEmpty(t, fc.Added)
	assert.Equal(t, Folder{ServerID: "1", ParentID: "0", DisplayName: "Calendar", Type: FolderCalendar}, fc.Added[0])
	assert.Contains(t, fc.Added, Folder{ServerID: "12", ParentID: "3", DisplayName: "Family", Type: FolderUserMail})

	fc, err = parseFolderSync(readVector(t, "hstern_foldersync_response"))
	require.NoError(t, err)
	assert.Equal(t, "1", fc.SyncKey)
	assert.Empty(t, fc.Added)
}

func TestParseProvisionVector(t *testing.T) {
	pol, key, err := parseProvision(readVector(t, "libwbxml_provision_response_policy"), true)
	require.NoError(t, err)
	assert.Equal(t, "1686474474", key)
	assert.Equal(t, "2", pol.Settings["AllowBluetooth"])
	v, ok := pol.Settings["MinDevicePasswordLength"]
	assert.True(t, ok, "empty policy elements are listed")
	assert.Empty(t, v)
}

func TestParseErrors(t *testing.T) {
	ns := func(n *wbxml.Node) *wbxml.Node { return n }
	for _, tc := range []struct {
		name  string
		parse func() error
		want  string
	}{
		{"provision status 2", func() error {
			_, _, err := parseProvision(ns(wbxml.Elem("Provision", "Provision", wbxml.Text("Provision", "Status", "2"))), true)
			return err
		}, "Provision status 2: protocol error"},
		{"policy status 5", func() error {
			_, _, err := parseProvision(wbxml.Elem("Provision", "Provision", wbxml.Text("Provision", "Status", "1"),
				wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy", wbxml.Text("Provision", "Status", "5")))), false)
			return err
		}, "Provision/Policy status 5: the client is acknowledging the wrong policy key"},
		{"remote wipe", func() error {
			_, _, err := parseProvision(wbxml.Elem("Provision", "Provision", wbxml.Text("Provision", "Status", "1"),
				wbxml.Elem("Provision", "RemoteWipe")), true)
			return err
		}, "remote wipe"},
		{"wrong root", func() error { _, err := parseFolderSync(wbxml.Elem("AirSync", "Sync")); return err }, "not a FolderSync element"},
		{"no status", func() error { _, err := parsePing(wbxml.Elem("Ping", "Ping")); return err }, "missing or malformed Status"},
		{"sync global status", func() error {
			_, err := parseSync(wbxml.Elem("AirSync", "Sync", wbxml.Text("AirSync", "Status", "4")), "1", "")
			return err
		}, "Sync status 4: protocol error"},
		{"undocumented", func() error {
			_, err := parseFolderSync(wbxml.Elem("FolderHierarchy", "FolderSync", wbxml.Text("FolderHierarchy", "Status", "77")))
			return err
		}, "status 77: status not documented"},
		{"common status", func() error {
			return parseSendMail(wbxml.Elem("ComposeMail", "SendMail", wbxml.Text("ComposeMail", "Status", "126")))
		}, "ActiveSyncEnabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	err := parseSendMail(wbxml.Elem("ComposeMail", "SendMail", wbxml.Text("ComposeMail", "Status", "142")))
	var se *StatusError
	require.True(t, errors.As(err, &se))
	assert.True(t, se.NeedsProvision())
}

// TestBase64QuerySpecExample checks the encoder against the example of
// [MS-ASHTTP] 2.2.1.1.1.1 (protocol 14.0, Sync, v140Device, SmartPhone, no
// policy key).
func TestBase64QuerySpecExample(t *testing.T) {
	q, err := base64Query("Sync", queryIdentity{version: "14.0", deviceID: "v140Device", deviceType: "SmartPhone", locale: 0x0409})
	require.NoError(t, err)
	assert.Equal(t, "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", q)

	p, err := ParseBase64Query("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l")
	require.NoError(t, err)
	assert.Equal(t, &BaseQuery{ProtocolVersion: "14.0", Command: "Sync", Locale: 0x0409, DeviceID: "v140Device",
		DeviceType: "SmartPhone", Params: map[byte]string{}}, p)
}

func TestBase64QueryPolicyKeyAndUser(t *testing.T) {
	q, err := base64Query("FolderSync", queryIdentity{version: "16.1", deviceID: "dev1", deviceType: "MailAuth",
		policyKey: "3942919513", user: "alice@contoso.com", locale: 0x0409})
	require.NoError(t, err)
	p, err := ParseBase64Query(q)
	require.NoError(t, err)
	assert.Equal(t, "16.1", p.ProtocolVersion)
	assert.Equal(t, "FolderSync", p.Command)
	assert.Equal(t, "3942919513", p.PolicyKey)
	assert.Equal(t, "alice@contoso.com", p.Params[paramUser])

	_, err = base64Query("FolderSync", queryIdentity{version: "16.1", deviceID: "d", deviceType: "t", policyKey: "not-a-number"})
	assert.ErrorContains(t, err, "32-bit")
	assert.Equal(t, "Cmd=Sync&User=a%2Bb%40c.d&DeviceId=d1&DeviceType=T", plainQuery("Sync", queryIdentity{user: "a+b@c.d", deviceID: "d1", deviceType: "T"}))
}

// responseSeeds are well-formed responses of every command, for the fuzz
// corpus.
func responseSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range []string{"libwbxml_sync_response_email", "libwbxml_foldersync_response",
		"hstern_foldersync_response", "libwbxml_provision_response_policy"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".wbxml"))
		require.NoError(t, err)
		out = append(out, b)
	}
	for _, n := range []*wbxml.Node{
		wbxml.Elem("Ping", "Ping", wbxml.Text("Ping", "Status", "2"),
			wbxml.Elem("Ping", "Folders", wbxml.Text("Ping", "Folder", "1"), wbxml.Text("Ping", "Folder", "7"))),
		wbxml.Elem("Ping", "Ping", wbxml.Text("Ping", "Status", "5"), wbxml.Text("Ping", "HeartbeatInterval", "60")),
		wbxml.Elem("ComposeMail", "SendMail", wbxml.Text("ComposeMail", "Status", "119")),
		wbxml.Elem("ItemOperations", "ItemOperations", wbxml.Text("ItemOperations", "Status", "1"),
			wbxml.Elem("ItemOperations", "Response", wbxml.Elem("ItemOperations", "Fetch",
				wbxml.Text("ItemOperations", "Status", "1"),
				wbxml.Text("AirSync", "CollectionId", "1"),
				wbxml.Text("AirSync", "ServerId", "1:1"),
				wbxml.Elem("ItemOperations", "Properties",
					wbxml.Text("Email", "Subject", "s"),
					wbxml.Elem("AirSyncBase", "Body",
						wbxml.Text("AirSyncBase", "Type", "4"),
						wbxml.Opaque("AirSyncBase", "Data", []byte("Subject: s\r\n\r\nbody"))))))),
		wbxml.Elem("AirSync", "Sync", wbxml.Elem("AirSync", "Collections", wbxml.Elem("AirSync", "Collection",
			wbxml.Text("AirSync", "SyncKey", "7"),
			wbxml.Text("AirSync", "CollectionId", "1"),
			wbxml.Text("AirSync", "Status", "1"),
			wbxml.Elem("AirSync", "Commands",
				wbxml.Elem("AirSync", "Delete", wbxml.Text("AirSync", "ServerId", "1:2")),
				wbxml.Elem("AirSync", "SoftDelete", wbxml.Text("AirSync", "ServerId", "1:3")),
				wbxml.Elem("AirSync", "Change", wbxml.Text("AirSync", "ServerId", "1:4"),
					wbxml.Elem("AirSync", "ApplicationData", wbxml.Text("Email", "Read", "1")))),
			wbxml.Elem("AirSync", "Responses", wbxml.Elem("AirSync", "Change",
				wbxml.Text("AirSync", "ServerId", "1:9"), wbxml.Text("AirSync", "Status", "8"))),
			wbxml.Elem("AirSync", "MoreAvailable")))),
	} {
		b, err := wbxml.Marshal(n)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// FuzzParseResponse feeds arbitrary bytes through the WBXML decoder and
// every command's response parser: none may panic, and a parser that
// reports success returns a usable result.
func FuzzParseResponse(f *testing.F) {
	for _, b := range responseSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := wbxml.Unmarshal(b)
		if err != nil {
			return
		}
		for _, initial := range []bool{true, false} {
			if pol, key, err := parseProvision(n, initial); err == nil && (pol == nil || (key == "" && !initial)) {
				t.Fatalf("parseProvision: success without a policy key")
			}
		}
		if fc, err := parseFolderSync(n); err == nil && (fc == nil || fc.SyncKey == "") {
			t.Fatal("parseFolderSync: success without a sync key")
		}
		for _, id := range []string{"1", "14", ""} {
			if r, err := parseSync(n, id, ""); err == nil && (r == nil || r.SyncKey == "") {
				t.Fatal("parseSync: success without a sync key")
			}
		}
		_ = parseSendMail(n)
		if r, err := parsePing(n); err == nil && r == nil {
			t.Fatal("parsePing: nil result")
		}
		if m, err := parseFetch(n); err == nil && m == nil {
			t.Fatal("parseFetch: nil result")
		}
	})
}

// FuzzBase64Query checks that any identity the encoder accepts decodes
// back to itself, and that the decoder never panics.
func FuzzBase64Query(f *testing.F) {
	f.Add("v140Device", "SmartPhone", "alice@contoso.com", "", uint8(140))
	f.Add("dev1", "MailAuth", "", "3942919513", uint8(161))
	f.Fuzz(func(t *testing.T, dev, typ, user, key string, ver uint8) {
		_, _ = ParseBase64Query(dev + typ + user + key)
		v := fmt.Sprintf("%d.%d", ver/10, ver%10)
		id := queryIdentity{version: v, deviceID: dev, deviceType: typ, user: user, policyKey: key, locale: 0x0409}
		q, err := base64Query("Ping", id)
		if err != nil {
			return
		}
		p, err := ParseBase64Query(q)
		if err != nil {
			t.Fatalf("ParseBase64Query(%q): %v", q, err)
		}
		wantKey := key
		if wantKey != "" {
			wantKey = strings.TrimLeft(key, "0")
			if wantKey == "" {
				wantKey = "0"
			}
		}
		if p.Command != "Ping" || p.DeviceID != dev || p.DeviceType != typ || p.Params[paramUser] != user ||
			p.ProtocolVersion != v || p.PolicyKey != wantKey {
			t.Fatalf("round trip: got %+v from %+v", p, id)
		}
	})
}

// The class of an item comes from its Class element, else the namespace
// of its properties, else the folder; unknown classes keep their data.
func TestParseItemClass(t *testing.T) {
	sync := func(cmds ...*wbxml.Node) *wbxml.Node {
		return wbxml.Elem("AirSync", "Sync", wbxml.Elem("AirSync", "Collections", wbxml.Elem("AirSync", "Collection",
			wbxml.Text("AirSync", "SyncKey", "2"), wbxml.Text("AirSync", "CollectionId", "9"), wbxml.Text("AirSync", "Status", "1"),
			wbxml.Elem("AirSync", "Commands", cmds...))))
	}
	add := func(id string, extra ...*wbxml.Node) *wbxml.Node {
		return wbxml.Elem("AirSync", "Add", append([]*wbxml.Node{wbxml.Text("AirSync", "ServerId", id)}, extra...)...)
	}
	data := func(props ...*wbxml.Node) *wbxml.Node { return wbxml.Elem("AirSync", "ApplicationData", props...) }
	r, err := parseSync(sync(
		add("9:1", data(wbxml.Text("Tasks", "Subject", "File the report"), wbxml.Text("Tasks", "Complete", "1"),
			wbxml.Text("Tasks", "DueDate", "2026-12-31T17:00:00.000Z"),
			wbxml.Elem("Tasks", "Categories", wbxml.Text("Tasks", "Category", "Work")))),
		add("9:2", wbxml.Text("AirSync", "Class", "Notes"), data(wbxml.Text("Notes", "Subject", "idea"))),
		add("9:3", data(wbxml.Elem("AirSyncBase", "Body", wbxml.Text("AirSyncBase", "Type", "1"), wbxml.Text("AirSyncBase", "Data", "x")))),
		add("9:4"),
	), "9", ClassTasks)
	require.NoError(t, err)
	require.Len(t, r.Added, 4)
	task := r.Added[0]
	assert.Equal(t, ClassTasks, task.Class)
	require.NotNil(t, task.Task)
	assert.Equal(t, Task{Subject: "File the report", Complete: true, DueDate: time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC), Categories: []string{"Work"}}, *task.Task)
	note := r.Added[1]
	assert.Equal(t, ClassNotes, note.Class)
	assert.True(t, note.Email == nil && note.Contact == nil && note.Event == nil && note.Task == nil)
	assert.Equal(t, "idea", note.Data.ChildText("Subject"))
	body := r.Added[2]
	assert.Equal(t, ClassTasks, body.Class, "only AirSyncBase properties: the folder's class")
	assert.Equal(t, "x", body.Task.Body.Data)
	empty := r.Added[3]
	assert.Equal(t, ClassTasks, empty.Class)
	assert.Nil(t, empty.Data)

	r, err = parseSync(sync(add("9:5")), "9", "")
	require.NoError(t, err)
	assert.Empty(t, r.Added[0].Class, "nothing says: no class, no typed field")
	assert.Nil(t, r.Added[0].Email)
}

// libwbxml's contacts Sync (protocol 2.5, a Class per collection, legacy
// tags, properties without a class of their own such as Picture) reads as
// a contact.
func TestParseSyncContactsVector(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "libwbxml_sync_request_contacts_legacy.wbxml"))
	require.NoError(t, err)
	d := wbxml.NewBytesDecoder(b)
	d.AllowLegacy = true
	n, err := d.Decode()
	require.NoError(t, err)
	// It is a request: give the collection the Status a response has.
	coll := n.Child("Collections").Child("Collection")
	coll.Children = append(coll.Children, wbxml.Text("AirSync", "Status", "1"))
	r, err := parseSync(n, "{F0A866C8-E590-42B9-830C-4CF4DFD545DF}", "")
	require.NoError(t, err)
	require.Len(t, r.Added, 1)
	it := r.Added[0]
	assert.Equal(t, ClassContacts, it.Class)
	require.NotNil(t, it.Contact)
	assert.Equal(t, Contact{FileAs: "Bue, Tryggve", FirstName: "Tryggve", LastName: "Bue", MobilePhoneNumber: "12345678"}, *it.Contact)
}
