package eastest

import (
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/modernauth/mailauth/eas/wbxml"
)

const contentTypeWBXML = "application/vnd.ms-sync.wbxml"

// commandNames maps the base64 query's command codes ([MS-ASHTTP]
// 2.2.1.1.1.1.2) to names.
var commandNames = map[byte]string{
	0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
	9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate", 13: "MoveItems",
	14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search", 17: "Settings", 18: "Ping",
	19: "ItemOperations", 20: "Provision", 21: "ResolveRecipients", 22: "ValidateCert",
}

// rootNamespace is the code page of each command's top-level element.
var rootNamespace = map[string]string{
	"Sync": "AirSync", "FolderSync": "FolderHierarchy", "Ping": "Ping",
	"ItemOperations": "ItemOperations", "SendMail": "ComposeMail", "Provision": "Provision",
}

const commandsHeader = "Sync,SendMail,SmartForward,SmartReply,GetAttachment,GetHierarchy,CreateCollection," +
	"DeleteCollection,MoveCollection,FolderSync,FolderCreate,FolderDelete,FolderUpdate,MoveItems," +
	"GetItemEstimate,MeetingResponse,Search,Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert"

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	req := Request{Method: r.Method, ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent")}
	if r.Method == http.MethodOptions {
		req.Command = "OPTIONS"
	} else if r.Method == http.MethodPost {
		if !parseQuery(r, &req) {
			s.count(req)
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
	} else {
		w.Header().Set("Allow", "OPTIONS,POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.count(req)

	// Knobs that fire before authentication, as a front end would.
	s.mu.Lock()
	k := &s.knobs
	if k.redirect != "" {
		loc := k.redirect
		k.redirect = ""
		s.mu.Unlock()
		if loc != "-" {
			w.Header().Set("X-MS-Location", loc)
		}
		w.WriteHeader(451)
		return
	}
	if k.throttle > 0 {
		k.throttle--
		after := k.throttleAfter
		s.mu.Unlock()
		if after > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(after.Seconds())))
		}
		http.Error(w, "server busy", http.StatusServiceUnavailable)
		return
	}
	if k.reject401 > 0 {
		k.reject401--
		s.mu.Unlock()
		unauthorized(w, "invalid_token")
		return
	}
	s.mu.Unlock()

	user, ok := s.authenticate(w, r, req.User)
	if !ok {
		return
	}
	if req.Command == "OPTIONS" {
		h := w.Header()
		h.Set("Allow", "OPTIONS,POST")
		h.Set("Public", "OPTIONS,POST")
		h.Set("MS-Server-ActiveSync", "15.20")
		h.Set("MS-ASProtocolVersions", strings.Join(s.versions, ","))
		h.Set("MS-ASProtocolCommands", commandsHeader)
		h.Set("Content-Type", contentTypeWBXML)
		w.WriteHeader(http.StatusOK)
		return
	}
	if req.DeviceID == "" || req.DeviceType == "" {
		http.Error(w, "DeviceId and DeviceType are required", http.StatusBadRequest)
		return
	}
	if !slices.Contains(s.versions, req.ProtocolVersion) {
		http.Error(w, "unsupported MS-ASProtocolVersion", http.StatusBadRequest)
		return
	}
	var doc *wbxml.Node
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		return
	}
	if len(body) > 0 {
		if !strings.EqualFold(req.ContentType, contentTypeWBXML) {
			http.Error(w, "Content-Type must be "+contentTypeWBXML, http.StatusBadRequest)
			return
		}
		if doc, err = wbxml.Unmarshal(body); err != nil {
			http.Error(w, "malformed WBXML", http.StatusBadRequest)
			return
		}
		if doc.Name != req.Command {
			http.Error(w, "the body's top-level element does not match Cmd", http.StatusBadRequest)
			return
		}
	}
	ns, known := rootNamespace[req.Command]
	if !known {
		http.Error(w, "command not implemented by eastest", http.StatusNotImplemented)
		return
	}

	s.mu.Lock()
	dev := s.deviceLocked(user, req.DeviceID)
	if req.Command != "Provision" {
		if dev.policyKey == "" || req.PolicyKey != dev.policyKey {
			code := 0
			if s.knobs.reprovision {
				code = s.knobs.reprovisionCode
			}
			s.mu.Unlock()
			if code == 0 {
				w.WriteHeader(449)
				return
			}
			writeWBXML(w, wbxml.Elem(ns, req.Command, wbxml.Text(ns, "Status", strconv.Itoa(code))))
			return
		}
		if s.knobs.statusCmd == req.Command {
			code := s.knobs.statusCode
			s.knobs.statusCmd = ""
			s.mu.Unlock()
			if req.Command == "Sync" && doc != nil {
				coll := doc.Child("Collections").Child("Collection")
				writeWBXML(w, wbxml.Elem("AirSync", "Sync", wbxml.Elem("AirSync", "Collections",
					wbxml.Elem("AirSync", "Collection",
						wbxml.Text("AirSync", "SyncKey", coll.ChildText("SyncKey")),
						wbxml.Text("AirSync", "CollectionId", coll.ChildText("CollectionId")),
						wbxml.Text("AirSync", "Status", strconv.Itoa(code))))))
				return
			}
			writeWBXML(w, wbxml.Elem(ns, req.Command, wbxml.Text(ns, "Status", strconv.Itoa(code))))
			return
		}
	}
	s.mu.Unlock()

	s.debug("eastest: request", "cmd", req.Command, "base64", req.Base64)
	switch req.Command {
	case "Provision":
		s.provision(w, user, req, doc)
	case "FolderSync":
		s.folderSync(w, user, req, doc)
	case "Sync":
		s.sync(w, user, req, doc)
	case "SendMail":
		s.sendMail(w, user, req, doc)
	case "Ping":
		s.ping(w, r, user, req, doc)
	case "ItemOperations":
		s.itemOperations(w, user, doc)
	}
}

func (s *Server) count(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := req.Command
	if name == "" {
		name = "?"
	}
	s.counts[name]++
	s.last = req
}

// parseQuery reads the plain ([MS-ASHTTP] 2.2.1.1.1.2) or base64
// (2.2.1.1.1.1) query into req.
func parseQuery(r *http.Request, req *Request) bool {
	raw := r.URL.RawQuery
	if q, err := url.ParseQuery(raw); err == nil && q.Get("Cmd") != "" {
		req.Command = q.Get("Cmd")
		req.User = q.Get("User")
		req.DeviceID = q.Get("DeviceId")
		req.DeviceType = q.Get("DeviceType")
		req.ProtocolVersion = r.Header.Get("MS-ASProtocolVersion")
		req.PolicyKey = r.Header.Get("X-MS-PolicyKey")
		if req.PolicyKey == "0" {
			req.PolicyKey = ""
		}
		return true
	}
	s, err := url.QueryUnescape(raw)
	if err != nil {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 5 {
		return false
	}
	req.Base64 = true
	req.ProtocolVersion = strconv.Itoa(int(b[0])/10) + "." + strconv.Itoa(int(b[0])%10)
	name, ok := commandNames[b[1]]
	if !ok {
		return false
	}
	req.Command = name
	p := b[4:] // skip the locale
	field := func() (string, bool) {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return "", false
		}
		v := string(p[1 : 1+int(p[0])])
		p = p[1+int(p[0]):]
		return v, true
	}
	if req.DeviceID, ok = field(); !ok {
		return false
	}
	if len(p) < 1 {
		return false
	}
	switch p[0] {
	case 0:
		p = p[1:]
	case 4:
		if len(p) < 5 {
			return false
		}
		req.PolicyKey = strconv.FormatUint(uint64(binary.LittleEndian.Uint32(p[1:5])), 10)
		p = p[5:]
	default:
		return false
	}
	if req.DeviceType, ok = field(); !ok {
		return false
	}
	for len(p) > 0 {
		tag := p[0]
		p = p[1:]
		v, ok := field()
		if !ok {
			return false
		}
		if tag == 8 { // User
			req.User = v
		}
	}
	return true
}

// authenticate checks the bearer token and returns the mailbox it opens.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, user string) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		unauthorized(w, "")
		return "", false
	}
	c, err := s.opts.Verify(tok)
	if err != nil {
		unauthorized(w, "invalid_token")
		return "", false
	}
	if strings.TrimRight(c.Audience, "/") != strings.TrimRight(s.opts.Audience, "/") {
		unauthorized(w, "invalid_token")
		return "", false
	}
	if len(c.Scp) > 0 {
		if !slices.ContainsFunc(c.Scp, func(x string) bool {
			return x == "EAS.AccessAsUser.All" || strings.HasSuffix(x, "/EAS.AccessAsUser.All")
		}) {
			http.Error(w, "token lacks EAS.AccessAsUser.All", http.StatusForbidden)
			return "", false
		}
		name := c.UPN
		if name == "" {
			name = c.PreferredUsername
		}
		if r.Method == http.MethodOptions && user == "" {
			user = name
		}
		if !strings.EqualFold(name, user) {
			unauthorized(w, "invalid_token")
			return "", false
		}
		return strings.ToLower(user), true
	}
	if s.opts.AllowAppOnly && slices.Contains(c.Roles, "full_access_as_app") && (user != "" || r.Method == http.MethodOptions) {
		return strings.ToLower(user), true
	}
	unauthorized(w, "invalid_token")
	return "", false
}

func unauthorized(w http.ResponseWriter, bearerErr string) {
	v := `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*"`
	if bearerErr != "" {
		v += `, error="` + bearerErr + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.WriteHeader(http.StatusUnauthorized)
}

func writeWBXML(w http.ResponseWriter, n *wbxml.Node) {
	b, err := wbxml.Marshal(n)
	if err != nil {
		http.Error(w, "eastest: encoding the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentTypeWBXML)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (s *Server) mailboxLocked(user string) *mailbox {
	user = strings.ToLower(user)
	mb := s.mailboxes[user]
	if mb == nil {
		mb = newMailbox(s.opts.Messages, s.opts.BodySize)
		s.mailboxes[user] = mb
	}
	return mb
}

func (s *Server) deviceLocked(user, id string) *device {
	key := strings.ToLower(user) + "/" + id
	d := s.devices[key]
	if d == nil {
		d = &device{colls: map[string]*collState{}, clientIDs: map[string]bool{}}
		s.devices[key] = d
	}
	return d
}
