package eastest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modernauth/mailauth/eas/wbxml"
)

const policyType = "MS-EAS-Provisioning-WBXML"

// provision implements both phases of [MS-ASPROV] 3.1.5.1.
func (s *Server) provision(w http.ResponseWriter, user string, req Request, doc *wbxml.Node) {
	pol := doc.Child("Policies").Child("Policy")
	s.mu.Lock()
	dev := s.deviceLocked(user, req.DeviceID)
	if s.knobs.wipe {
		s.mu.Unlock()
		writeWBXML(w, wbxml.Elem("Provision", "Provision",
			wbxml.Text("Provision", "Status", "1"),
			wbxml.Elem("Provision", "RemoteWipe")))
		return
	}
	if pol == nil {
		s.mu.Unlock()
		writeWBXML(w, wbxml.Elem("Provision", "Provision", wbxml.Text("Provision", "Status", "2")))
		return
	}
	if pol.ChildText("PolicyType") != policyType {
		s.mu.Unlock()
		writeWBXML(w, wbxml.Elem("Provision", "Provision",
			wbxml.Text("Provision", "Status", "1"),
			wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy",
				wbxml.Text("Provision", "PolicyType", pol.ChildText("PolicyType")),
				wbxml.Text("Provision", "Status", "3")))))
		return
	}
	if key := pol.ChildText("PolicyKey"); key != "" {
		// Phase 2: the acknowledgement of the temporary key.
		if key != dev.tempKey || pol.ChildText("Status") == "" {
			s.mu.Unlock()
			writeWBXML(w, wbxml.Elem("Provision", "Provision",
				wbxml.Text("Provision", "Status", "1"),
				wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy",
					wbxml.Text("Provision", "PolicyType", policyType),
					wbxml.Text("Provision", "Status", "5")))))
			return
		}
		dev.tempKey = ""
		dev.policyKey = randomKey()
		s.knobs.reprovision = false
		final := dev.policyKey
		s.mu.Unlock()
		writeWBXML(w, wbxml.Elem("Provision", "Provision",
			wbxml.Text("Provision", "Status", "1"),
			wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy",
				wbxml.Text("Provision", "PolicyType", policyType),
				wbxml.Text("Provision", "Status", "1"),
				wbxml.Text("Provision", "PolicyKey", final)))))
		return
	}
	// Phase 1: 14.1 and later must send settings:DeviceInformation.
	if req.ProtocolVersion >= "14.1" && doc.Child("DeviceInformation").Child("Set") == nil {
		s.mu.Unlock()
		writeWBXML(w, wbxml.Elem("Provision", "Provision", wbxml.Text("Provision", "Status", "2")))
		return
	}
	dev.tempKey = randomKey()
	temp := dev.tempKey
	s.mu.Unlock()
	writeWBXML(w, wbxml.Elem("Provision", "Provision",
		wbxml.Elem("Settings", "DeviceInformation", wbxml.Text("Settings", "Status", "1")),
		wbxml.Text("Provision", "Status", "1"),
		wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy",
			wbxml.Text("Provision", "PolicyType", policyType),
			wbxml.Text("Provision", "Status", "1"),
			wbxml.Text("Provision", "PolicyKey", temp),
			wbxml.Elem("Provision", "Data", wbxml.Elem("Provision", "EASProvisionDoc",
				wbxml.Text("Provision", "DevicePasswordEnabled", "0"),
				wbxml.Text("Provision", "AlphanumericDevicePasswordRequired", "0"),
				wbxml.Text("Provision", "AttachmentsEnabled", "1"),
				wbxml.Text("Provision", "MinDevicePasswordLength", ""),
				wbxml.Text("Provision", "AllowSimpleDevicePassword", "1"),
				wbxml.Text("Provision", "RequireDeviceEncryption", "0"),
				wbxml.Text("Provision", "AllowHTMLEmail", "1"),
				wbxml.Text("Provision", "MaxEmailAgeFilter", "0"),
				wbxml.Text("Provision", "MaxEmailBodyTruncationSize", "-1")))))))
}

// folderSync implements FolderSync ([MS-ASCMD] 2.2.1.5). The hierarchy
// never changes, so a known key gets an empty change list.
func (s *Server) folderSync(w http.ResponseWriter, user string, req Request, doc *wbxml.Node) {
	key := doc.ChildText("SyncKey")
	s.mu.Lock()
	dev := s.deviceLocked(user, req.DeviceID)
	mb := s.mailboxLocked(user)
	resp := wbxml.Elem("FolderHierarchy", "FolderSync")
	switch {
	case key == "0":
		dev.hierKey++
		changes := wbxml.Elem("FolderHierarchy", "Changes", wbxml.Text("FolderHierarchy", "Count", strconv.Itoa(len(mb.folders))))
		for _, f := range mb.folders {
			changes.Children = append(changes.Children, wbxml.Elem("FolderHierarchy", "Add",
				wbxml.Text("FolderHierarchy", "ServerId", f.id),
				wbxml.Text("FolderHierarchy", "ParentId", f.parent),
				wbxml.Text("FolderHierarchy", "DisplayName", f.name),
				wbxml.Text("FolderHierarchy", "Type", strconv.Itoa(f.typ))))
		}
		resp.Children = append(resp.Children,
			wbxml.Text("FolderHierarchy", "Status", "1"),
			wbxml.Text("FolderHierarchy", "SyncKey", strconv.Itoa(dev.hierKey)),
			changes)
	case dev.hierKey > 0 && key == strconv.Itoa(dev.hierKey):
		resp.Children = append(resp.Children,
			wbxml.Text("FolderHierarchy", "Status", "1"),
			wbxml.Text("FolderHierarchy", "SyncKey", key),
			wbxml.Elem("FolderHierarchy", "Changes", wbxml.Text("FolderHierarchy", "Count", "0")))
	default:
		resp.Children = append(resp.Children, wbxml.Text("FolderHierarchy", "Status", "9"))
	}
	s.mu.Unlock()
	writeWBXML(w, resp)
}

// sync implements Sync ([MS-ASCMD] 2.2.1.21) for email folders.
func (s *Server) sync(w http.ResponseWriter, user string, req Request, doc *wbxml.Node) {
	if doc == nil {
		writeWBXML(w, wbxml.Elem("AirSync", "Sync", wbxml.Text("AirSync", "Status", "13")))
		return
	}
	colls := wbxml.Elem("AirSync", "Collections")
	func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		dev := s.deviceLocked(user, req.DeviceID)
		mb := s.mailboxLocked(user)
		for _, c := range doc.Child("Collections").All("Collection") {
			colls.Children = append(colls.Children, s.syncCollectionLocked(dev, mb, c))
		}
	}()
	writeWBXML(w, wbxml.Elem("AirSync", "Sync", colls))
}

func (s *Server) syncCollectionLocked(dev *device, mb *mailbox, c *wbxml.Node) *wbxml.Node {
	id := c.ChildText("CollectionId")
	key := c.ChildText("SyncKey")
	out := wbxml.Elem("AirSync", "Collection")
	fail := func(status string) *wbxml.Node {
		out.Children = append(out.Children,
			wbxml.Text("AirSync", "SyncKey", key),
			wbxml.Text("AirSync", "CollectionId", id),
			wbxml.Text("AirSync", "Status", status))
		return out
	}
	f := mb.folder(id)
	if f == nil {
		return fail("12") // the hierarchy changed: the folder is unknown
	}
	st := dev.colls[id]
	if key == "0" {
		st = &collState{key: 1, view: map[string]int{}}
		dev.colls[id] = st
		out.Children = append(out.Children,
			wbxml.Text("AirSync", "SyncKey", "1"),
			wbxml.Text("AirSync", "CollectionId", id),
			wbxml.Text("AirSync", "Status", "1"))
		return out
	}
	if st == nil || key != strconv.Itoa(st.key) {
		return fail("3")
	}

	// Client-side changes first. Sync responses list only the ones that
	// failed ([MS-ASCMD] 2.2.3.156).
	responses := wbxml.Elem("AirSync", "Responses")
	var cmds []*wbxml.Node
	if cn := c.Child("Commands"); cn != nil {
		cmds = cn.Children
	}
	for _, cmd := range cmds {
		sid := cmd.ChildText("ServerId")
		it := f.items[sid]
		switch cmd.Name {
		case "Change":
			if it == nil {
				responses.Children = append(responses.Children, wbxml.Elem("AirSync", "Change",
					wbxml.Text("AirSync", "ServerId", sid), wbxml.Text("AirSync", "Status", "8")))
				continue
			}
			if r := cmd.Child("ApplicationData").Child("Read"); r != nil {
				it.read = r.Text == "1"
				it.version++
				st.view[sid] = it.version // the client has this version already
			}
		case "Delete":
			if it == nil {
				responses.Children = append(responses.Children, wbxml.Elem("AirSync", "Delete",
					wbxml.Text("AirSync", "ServerId", sid), wbxml.Text("AirSync", "Status", "8")))
				continue
			}
			delete(f.items, sid)
			f.order = slices.DeleteFunc(f.order, func(x string) bool { return x == sid })
			delete(st.view, sid)
			if c.ChildText("DeletesAsMoves") != "0" && f.id != deletedID {
				mb.add(deletedID, it.msg)
			}
		}
	}

	commands := wbxml.Elem("AirSync", "Commands")
	more := false
	if c.Child("GetChanges") == nil || c.ChildText("GetChanges") != "0" {
		window := 100
		wsText := c.ChildText("WindowSize")
		if n, err := strconv.Atoi(wsText); err == nil && n > 0 {
			window = min(n, 512)
		}
		opts := c.Child("Options")
		bodyType, trunc := 1, -1
		if bp := opts.Child("BodyPreference"); bp != nil {
			bodyType, _ = strconv.Atoi(bp.ChildText("Type"))
			if n, err := strconv.Atoi(bp.ChildText("TruncationSize")); err == nil {
				trunc = n
			}
		}
		sent := 0
		// Deletions of items the client has, then additions (newest first,
		// as Exchange sends them) and changes.
		for sid := range st.view {
			if sent >= window {
				break
			}
			if _, ok := f.items[sid]; !ok {
				commands.Children = append(commands.Children, wbxml.Elem("AirSync", "Delete", wbxml.Text("AirSync", "ServerId", sid)))
				delete(st.view, sid)
				sent++
			}
		}
		for i := len(f.order) - 1; i >= 0; i-- {
			it := f.items[f.order[i]]
			v, has := st.view[it.id]
			if has && v == it.version {
				continue
			}
			if sent >= window {
				more = true
				break
			}
			if !has {
				commands.Children = append(commands.Children, wbxml.Elem("AirSync", "Add",
					wbxml.Text("AirSync", "ServerId", it.id),
					applicationData(it, bodyType, trunc)))
			} else if it.contact == nil && it.event == nil {
				commands.Children = append(commands.Children, wbxml.Elem("AirSync", "Change",
					wbxml.Text("AirSync", "ServerId", it.id),
					wbxml.Elem("AirSync", "ApplicationData", wbxml.Text("Email", "Read", boolText(it.read)))))
			}
			st.view[it.id] = it.version
			sent++
		}
		more = more && wsText != ""
	}
	st.key++
	out.Children = append(out.Children,
		wbxml.Text("AirSync", "SyncKey", strconv.Itoa(st.key)),
		wbxml.Text("AirSync", "CollectionId", id),
		wbxml.Text("AirSync", "Status", "1"))
	// Element order as in [MS-ASCMD] 4.5.8: Commands, then MoreAvailable.
	if len(commands.Children) > 0 {
		out.Children = append(out.Children, commands)
	}
	if len(responses.Children) > 0 {
		out.Children = append(out.Children, responses)
	}
	if more {
		out.Children = append(out.Children, wbxml.Elem("AirSync", "MoreAvailable"))
	}
	return out
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// applicationData renders an item with the body type asked for: a contact
// ([MS-ASCNTC] 4.1), a meeting ([MS-ASCAL] 4.1) or an email ([MS-ASEMAIL],
// [MS-ASAIRS] Body).
func applicationData(it *item, bodyType, trunc int) *wbxml.Node {
	switch {
	case it.contact != nil:
		return contactData(it.contact)
	case it.event != nil:
		return eventData(it.event)
	}
	var data string
	switch bodyType {
	case 2:
		data = it.htmlBody()
	case 4:
		data = string(it.mime())
	default:
		bodyType = 1
		data = it.msg.Body
	}
	size := len(data)
	truncated := trunc >= 0 && size > trunc
	if truncated {
		data = data[:trunc]
	}
	body := wbxml.Elem("AirSyncBase", "Body",
		wbxml.Text("AirSyncBase", "Type", strconv.Itoa(bodyType)),
		wbxml.Text("AirSyncBase", "EstimatedDataSize", strconv.Itoa(size)))
	if truncated {
		body.Children = append(body.Children, wbxml.Text("AirSyncBase", "Truncated", "1"))
	}
	if bodyType == 4 {
		body.Children = append(body.Children, wbxml.Opaque("AirSyncBase", "Data", []byte(data)))
	} else {
		body.Children = append(body.Children, wbxml.Text("AirSyncBase", "Data", data))
	}
	return wbxml.Elem("AirSync", "ApplicationData",
		wbxml.Text("Email", "To", it.msg.To),
		wbxml.Text("Email", "From", it.msg.From),
		wbxml.Text("Email", "Subject", it.msg.Subject),
		wbxml.Text("Email", "DateReceived", it.msg.Date.UTC().Format("2006-01-02T15:04:05.000Z")),
		wbxml.Text("Email", "DisplayTo", displayName(it.msg.To)),
		wbxml.Text("Email", "ThreadTopic", it.msg.Subject),
		wbxml.Text("Email", "Importance", "1"),
		wbxml.Text("Email", "Read", boolText(it.read)),
		body,
		wbxml.Text("Email", "MessageClass", "IPM.Note"),
		wbxml.Text("Email", "InternetCPID", "65001"),
		wbxml.Text("Email", "ContentClass", "urn:content-classes:message"),
		wbxml.Text("AirSyncBase", "NativeBodyType", "1"))
}

func contactData(c *Contact) *wbxml.Node {
	name := strings.TrimSpace(c.FirstName + " " + c.LastName)
	n := wbxml.Elem("AirSync", "ApplicationData",
		wbxml.Elem("AirSyncBase", "Body",
			wbxml.Text("AirSyncBase", "Type", "1"),
			wbxml.Text("AirSyncBase", "EstimatedDataSize", "0")),
		wbxml.Text("Contacts", "FileAs", strings.TrimSpace(c.LastName+", "+c.FirstName)),
		wbxml.Text("Contacts", "FirstName", c.FirstName),
		wbxml.Text("Contacts", "LastName", c.LastName))
	if c.CompanyName != "" {
		n.Children = append(n.Children, wbxml.Text("Contacts", "CompanyName", c.CompanyName))
	}
	if c.JobTitle != "" {
		n.Children = append(n.Children, wbxml.Text("Contacts", "JobTitle", c.JobTitle))
	}
	if c.Email != "" {
		n.Children = append(n.Children, wbxml.Text("Contacts", "Email1Address", `"`+name+`" <`+c.Email+`>`))
	}
	if c.MobilePhone != "" {
		n.Children = append(n.Children, wbxml.Text("Contacts", "MobilePhoneNumber", c.MobilePhone))
	}
	if !c.Birthday.IsZero() {
		n.Children = append(n.Children, wbxml.Text("Contacts", "Birthday", c.Birthday.UTC().Format("2006-01-02T15:04:05.000Z")))
	}
	n.Children = append(n.Children, wbxml.Text("AirSyncBase", "NativeBodyType", "1"))
	return n
}

// utcTimeZone is the TimeZone of a meeting in UTC: the 172-byte structure
// of [MS-ASDTYPE] 2.7 (bias 0, no daylight rules), base64-encoded.
var utcTimeZone = base64.StdEncoding.EncodeToString(make([]byte, 172))

// eventData renders a meeting; Calendar dates use the basic ISO 8601 form
// ([MS-ASCAL] 2.2.2.18).
func eventData(e *Event) *wbxml.Node {
	const basic = "20060102T150405Z"
	attendees := wbxml.Elem("Calendar", "Attendees")
	for _, a := range e.Attendees {
		attendees.Children = append(attendees.Children, wbxml.Elem("Calendar", "Attendee",
			wbxml.Text("Calendar", "Email", a),
			wbxml.Text("Calendar", "Name", a),
			wbxml.Text("Calendar", "AttendeeType", "1")))
	}
	return wbxml.Elem("AirSync", "ApplicationData",
		wbxml.Text("Calendar", "TimeZone", utcTimeZone),
		wbxml.Text("Calendar", "DtStamp", e.Start.UTC().Add(-24*time.Hour).Format(basic)),
		wbxml.Text("Calendar", "StartTime", e.Start.UTC().Format(basic)),
		wbxml.Text("Calendar", "Subject", e.Subject),
		wbxml.Text("Calendar", "UID", e.UID),
		wbxml.Text("Calendar", "OrganizerName", e.OrganizerName),
		wbxml.Text("Calendar", "OrganizerEmail", e.OrganizerEmail),
		attendees,
		wbxml.Text("Calendar", "Location", e.Location),
		wbxml.Text("Calendar", "EndTime", e.End.UTC().Format(basic)),
		wbxml.Elem("AirSyncBase", "Body",
			wbxml.Text("AirSyncBase", "Type", "1"),
			wbxml.Text("AirSyncBase", "EstimatedDataSize", "0")),
		wbxml.Text("Calendar", "Sensitivity", "0"),
		wbxml.Text("Calendar", "BusyStatus", "2"),
		wbxml.Text("Calendar", "AllDayEvent", "0"),
		wbxml.Text("Calendar", "MeetingStatus", "1"),
		wbxml.Text("AirSyncBase", "NativeBodyType", "1"),
		wbxml.Text("Calendar", "ResponseRequested", "1"))
}

func displayName(addr string) string {
	if i := strings.Index(addr, "<"); i > 0 {
		return strings.Trim(strings.TrimSpace(addr[:i]), `"`)
	}
	return addr
}

// sendMail implements SendMail in the ComposeMail form ([MS-ASCMD]
// 2.2.1.17): success is an empty 200 response.
func (s *Server) sendMail(w http.ResponseWriter, user string, req Request, doc *wbxml.Node) {
	fail := func(code int) {
		writeWBXML(w, wbxml.Elem("ComposeMail", "SendMail", wbxml.Text("ComposeMail", "Status", strconv.Itoa(code))))
	}
	mimeNode := doc.Child("Mime")
	if mimeNode == nil {
		fail(107)
		return
	}
	mime := mimeNode.Opaque
	if mime == nil {
		mime = []byte(mimeNode.Text)
	}
	hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(mime))).ReadMIMEHeader()
	if err != nil && len(hdr) == 0 {
		fail(107)
		return
	}
	if hdr.Get("To") == "" && hdr.Get("Cc") == "" && hdr.Get("Bcc") == "" {
		fail(119)
		return
	}
	s.mu.Lock()
	dev := s.deviceLocked(user, req.DeviceID)
	cid := doc.ChildText("ClientId")
	if cid != "" && dev.clientIDs[cid] {
		s.mu.Unlock()
		fail(118)
		return
	}
	dev.clientIDs[cid] = true
	s.sent = append(s.sent, bytes.Clone(mime))
	if doc.Child("SaveInSentItems") != nil {
		mb := s.mailboxLocked(user)
		mb.add(sentID, Message{Subject: hdr.Get("Subject"), From: hdr.Get("From"), To: hdr.Get("To"), Read: true})
		s.notifyLocked()
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// ping implements Ping ([MS-ASCMD] 2.2.1.13).
func (s *Server) ping(w http.ResponseWriter, r *http.Request, user string, req Request, doc *wbxml.Node) {
	reply := func(status int, extra ...*wbxml.Node) {
		writeWBXML(w, wbxml.Elem("Ping", "Ping", append([]*wbxml.Node{wbxml.Text("Ping", "Status", strconv.Itoa(status))}, extra...)...))
	}
	s.mu.Lock()
	dev := s.deviceLocked(user, req.DeviceID)
	if hb := doc.ChildText("HeartbeatInterval"); hb != "" {
		n, err := strconv.Atoi(hb)
		if err != nil {
			s.mu.Unlock()
			reply(4)
			return
		}
		d := time.Duration(n) * time.Second
		if d < s.opts.MinHeartbeat || d > s.opts.MaxHeartbeat {
			allowed := s.opts.MinHeartbeat
			if d > s.opts.MaxHeartbeat {
				allowed = s.opts.MaxHeartbeat
			}
			s.mu.Unlock()
			reply(5, wbxml.Text("Ping", "HeartbeatInterval", strconv.Itoa(int(allowed/time.Second))))
			return
		}
		dev.heartbeat = d
	}
	var ids []string
	for _, f := range doc.Child("Folders").All("Folder") {
		ids = append(ids, f.ChildText("Id"))
	}
	if dev.heartbeat == 0 || len(ids) == 0 {
		s.mu.Unlock()
		reply(3)
		return
	}
	mb := s.mailboxLocked(user)
	for _, id := range ids {
		if mb.folder(id) == nil {
			s.mu.Unlock()
			reply(7)
			return
		}
	}
	timer := time.NewTimer(dev.heartbeat)
	defer timer.Stop()
	for {
		var changed []*wbxml.Node
		for _, id := range ids {
			if dev.pendingLocked(mb, id) {
				changed = append(changed, wbxml.Text("Ping", "Folder", id))
			}
		}
		if len(changed) > 0 {
			s.mu.Unlock()
			reply(2, wbxml.Elem("Ping", "Folders", changed...))
			return
		}
		if s.closing {
			s.mu.Unlock()
			reply(1)
			return
		}
		wake := s.changed
		s.mu.Unlock()
		select {
		case <-wake:
			s.mu.Lock()
		case <-timer.C:
			reply(1)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// pendingLocked reports whether folder id has changes the device has not
// synchronized yet. A folder the device never synchronized has none.
func (d *device) pendingLocked(mb *mailbox, id string) bool {
	st := d.colls[id]
	f := mb.folder(id)
	if st == nil || f == nil {
		return false
	}
	if len(st.view) != len(f.items) {
		return true
	}
	for sid, it := range f.items {
		if v, ok := st.view[sid]; !ok || v != it.version {
			return true
		}
	}
	return false
}

// itemOperations implements the Fetch operation of ItemOperations
// ([MS-ASCMD] 2.2.1.10) for mailbox items.
func (s *Server) itemOperations(w http.ResponseWriter, user string, doc *wbxml.Node) {
	fetch := doc.Child("Fetch")
	if fetch == nil {
		writeWBXML(w, wbxml.Elem("ItemOperations", "ItemOperations", wbxml.Text("ItemOperations", "Status", "2")))
		return
	}
	if fetch.ChildText("Store") != "Mailbox" {
		writeWBXML(w, wbxml.Elem("ItemOperations", "ItemOperations", wbxml.Text("ItemOperations", "Status", "9")))
		return
	}
	coll, sid := fetch.ChildText("CollectionId"), fetch.ChildText("ServerId")
	bodyType := 1
	if bp := fetch.Child("Options").Child("BodyPreference"); bp != nil {
		bodyType, _ = strconv.Atoi(bp.ChildText("Type"))
	}
	s.mu.Lock()
	mb := s.mailboxLocked(user)
	f, it := mb.find(sid)
	var props *wbxml.Node
	if it != nil && f.id == coll {
		props = wbxml.Elem("ItemOperations", "Properties", applicationData(it, bodyType, -1).Children...)
	}
	s.mu.Unlock()
	res := wbxml.Elem("ItemOperations", "Fetch")
	if props == nil {
		res.Children = append(res.Children,
			wbxml.Text("ItemOperations", "Status", "6"),
			wbxml.Text("AirSync", "CollectionId", coll),
			wbxml.Text("AirSync", "ServerId", sid))
	} else {
		res.Children = append(res.Children,
			wbxml.Text("ItemOperations", "Status", "1"),
			wbxml.Text("AirSync", "CollectionId", coll),
			wbxml.Text("AirSync", "ServerId", sid),
			wbxml.Text("AirSync", "Class", "Email"),
			props)
	}
	writeWBXML(w, wbxml.Elem("ItemOperations", "ItemOperations",
		wbxml.Text("ItemOperations", "Status", "1"),
		wbxml.Elem("ItemOperations", "Response", res)))
}
