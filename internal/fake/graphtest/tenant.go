package graphtest

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file serves the tenant-wide APIs of a report on basic authentication: the sign-in
// log (GET /v1.0/auditLogs/signIns) and the email app usage report (GET
// /v1.0/reports/getEmailAppUsageUserDetail(period='D30')), whose 302 points at a
// pre-authorised CSV download on a second listener, another host.

// SignIn is an entry of the sign-in log the server serves under /v1.0/auditLogs/signIns.
type SignIn struct {
	ID            string    // empty: generated
	Time          time.Time // createdDateTime
	User          string    // userPrincipalName
	DisplayName   string    // userDisplayName
	App           string    // appDisplayName
	AppID         string    // appId
	ClientApp     string    // clientAppUsed, such as "Authenticated SMTP" or "IMAP4"
	IP            string    // ipAddress
	ErrorCode     int       // status.errorCode; 0 is a success
	FailureReason string    // status.failureReason
}

// EmailAppUsage is a row of the email app usage report (getEmailAppUsageUserDetail).
type EmailAppUsage struct {
	User         string    // User Principal Name
	DisplayName  string    // Display Name
	LastActivity time.Time // Last Activity Date (the date is kept); zero: empty
	Deleted      bool      // Is Deleted

	MailForMac, OutlookForMac, OutlookForWindows, OutlookForMobile, OtherForMobile, OutlookForWeb bool
	POP3, IMAP4, SMTP                                                                             bool
}

// EmailAppUsageColumns are the columns of the email app usage CSV, in Graph's order.
func EmailAppUsageColumns() []string {
	return []string{"Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
		"Last Activity Date", "Mail For Mac", "Outlook For Mac", "Outlook For Windows", "Outlook For Mobile",
		"Other For Mobile", "Outlook For Web", "POP3 App", "IMAP4 App", "SMTP App", "Report Period"}
}

// tenant is the server's tenant-wide state; guarded by Server.mu.
type tenant struct {
	signIns     []SignIn
	usage       []EmailAppUsage
	noP1        bool
	throttled   map[int]time.Duration // sign-in page number -> Retry-After of its one 429
	downloads   map[string][]byte     // download token -> CSV
	dlAuth      int                   // download requests that carried Authorization
	dlCount     int
	dlSrv       *httptest.Server
	dlBase      string // "https://localhost:PORT2"
	refreshDate time.Time
}

// AddSignIns appends entries to the sign-in log.
func (s *Server) AddSignIns(entries ...SignIn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if e.ID == "" {
			e.ID = newRequestID()
		}
		s.tenant.signIns = append(s.tenant.signIns, e)
	}
}

// SetEmailAppUsage replaces the rows of the email app usage report.
func (s *Server) SetEmailAppUsage(rows ...EmailAppUsage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.usage = slices.Clone(rows)
}

// SetEntraP1 says whether the tenant has Microsoft Entra ID P1 or P2 (true by default).
// Without it, auditLogs/signIns answers 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant.
func (s *Server) SetEntraP1(licensed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.noP1 = !licensed
}

// ThrottleSignInPage makes the first request for page (1 is the first) of a sign-in
// listing answer 429 with Retry-After retryAfter (whole seconds, rounded up) once.
func (s *Server) ThrottleSignInPage(page int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenant.throttled == nil {
		s.tenant.throttled = map[int]time.Duration{}
	}
	s.tenant.throttled[page] = retryAfter
}

// DownloadURL returns the base of the report download host, "https://localhost:PORT": a
// second listener, so another host than URL.
func (s *Server) DownloadURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant.dlBase
}

// SetDownloadBase makes the report redirects point at base (scheme and host) instead of
// the download host: to check that a client refuses a download over plain http.
func (s *Server) SetDownloadBase(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.dlBase = strings.TrimRight(base, "/")
}

// Downloads returns how many requests the download host received, and how many of them
// carried an Authorization header (a client leaking its token there).
func (s *Server) Downloads() (requests, withAuthorization int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant.dlCount, s.tenant.dlAuth
}

// startDownloads starts the report download host.
func (s *Server) startDownloads() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(s.serveDownload)}, TLS: s.srv.TLS}
	srv.StartTLS()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s.tenant.dlSrv = srv
	s.tenant.dlBase = "https://localhost:" + port
	s.tenant.downloads = map[string][]byte{}
	return nil
}

func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization") != ""
	rec := Request{Method: r.Method, Host: r.Host, Path: "/data/download/(token)", Authorization: auth}
	s.mu.Lock()
	s.tenant.dlCount++
	if auth {
		s.tenant.dlAuth++
	}
	tok := strings.TrimPrefix(r.URL.Path, "/data/download/")
	data, ok := s.tenant.downloads[tok]
	s.mu.Unlock()
	switch {
	case r.Method != http.MethodGet:
		rec.Status = http.StatusMethodNotAllowed
	case !ok:
		rec.Status = http.StatusNotFound
	default:
		rec.Status = http.StatusOK
	}
	s.record(rec)
	if rec.Status != http.StatusOK {
		http.Error(w, http.StatusText(rec.Status), rec.Status)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(data)
}

// serveTenant answers /v1.0/auditLogs/... and /v1.0/reports/...; it reports whether the
// path was one of them.
func (s *Server) serveTenant(x *exchange, segs []string) bool {
	if len(segs) == 0 || (segs[0] != "auditLogs" && segs[0] != "reports") {
		return false
	}
	switch {
	case len(segs) == 2 && segs[0] == "auditLogs" && segs[1] == "signIns" && x.r.Method == http.MethodGet:
		s.listSignIns(x)
	case len(segs) == 2 && segs[0] == "reports" && x.r.Method == http.MethodGet:
		s.usageReport(x, segs[1])
	default:
		x.error(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+strings.Join(segs, "/")+"'.")
	}
	return true
}

func (s *Server) listSignIns(x *exchange) {
	if !x.can("AuditLog.Read.All") {
		x.error(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	q := x.r.URL.Query()
	top := 1000
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			x.error(http.StatusBadRequest, "BadRequest", "Invalid $top value: "+v)
			return
		}
		top = n
	}
	filter := q.Get("$filter")
	pred, err := parseSignInFilter(filter)
	if err != nil {
		x.error(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
		return
	}
	skip := 0
	if v := q.Get("$skiptoken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "skip-"))
		if err != nil || n < 0 {
			x.error(http.StatusBadRequest, "BadRequest", "Invalid $skiptoken.")
			return
		}
		skip = n
	}
	page := skip/top + 1
	s.mu.Lock()
	if s.tenant.noP1 {
		s.mu.Unlock()
		x.error(http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license")
		return
	}
	if ra, ok := s.tenant.throttled[page]; ok {
		delete(s.tenant.throttled, page)
		s.mu.Unlock()
		if ra > 0 {
			x.w.Header().Set("Retry-After", fmt.Sprint(int((ra+time.Second-1)/time.Second)))
		}
		x.error(http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
		return
	}
	var match []SignIn
	for _, e := range s.tenant.signIns {
		if pred(&e) {
			match = append(match, e)
		}
	}
	base := s.linkBase
	s.mu.Unlock()
	slices.SortStableFunc(match, func(a, b SignIn) int { return b.Time.Compare(a.Time) })
	end := min(skip+top, len(match))
	if skip > len(match) {
		skip = end
	}
	var w jsonWriter
	w.open()
	w.field("@odata.context", s.srv.URL+"/v1.0/$metadata#auditLogs/signIns")
	if end < len(match) {
		next := base + "/v1.0/auditLogs/signIns?$top=" + strconv.Itoa(top) + "&$skiptoken=skip-" + strconv.Itoa(end)
		if filter != "" {
			next += "&$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
		}
		w.field("@odata.nextLink", next)
	}
	w.key("value")
	w.b.WriteByte('[')
	for i, e := range match[skip:end] {
		if i > 0 {
			w.b.WriteByte(',')
		}
		var ew jsonWriter
		ew.open()
		ew.field("id", e.ID)
		ew.field("createdDateTime", graphTime(e.Time))
		ew.field("userDisplayName", e.DisplayName)
		ew.field("userPrincipalName", e.User)
		ew.field("userId", userID(e.User))
		ew.field("appId", e.AppID)
		ew.field("appDisplayName", e.App)
		ew.field("ipAddress", e.IP)
		ew.field("clientAppUsed", e.ClientApp)
		ew.field("conditionalAccessStatus", "notApplied")
		ew.field("isInteractive", false)
		ew.field("resourceDisplayName", "Office 365 Exchange Online")
		ew.key("status")
		ew.open()
		ew.field("errorCode", e.ErrorCode)
		if e.FailureReason != "" {
			ew.field("failureReason", e.FailureReason)
		} else {
			ew.field("failureReason", nil)
		}
		ew.field("additionalDetails", nil)
		ew.close()
		ew.close()
		w.b.Write(ew.b.Bytes())
	}
	w.b.WriteByte(']')
	w.close()
	x.writeJSON(http.StatusOK, w.b.Bytes())
}

// userID is a stable made-up object id for a user.
func userID(upn string) string {
	var h uint64 = 14695981039346656037
	for _, c := range []byte(strings.ToLower(upn)) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(h>>32), h&0xffffffffffff)
}

func (s *Server) usageReport(x *exchange, fn string) {
	name, arg, ok := strings.Cut(fn, "(")
	period, ok2 := strings.CutSuffix(arg, ")")
	if !ok || !ok2 || name != "getEmailAppUsageUserDetail" {
		x.error(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+fn+"'.")
		return
	}
	days := 0
	switch period {
	case "period='D7'":
		days = 7
	case "period='D30'":
		days = 30
	case "period='D90'":
		days = 90
	case "period='D180'":
		days = 180
	default:
		x.error(http.StatusBadRequest, "BadRequest", "Invalid period: the supported values are D7, D30, D90 and D180.")
		return
	}
	if !x.can("Reports.Read.All") {
		x.error(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	s.mu.Lock()
	data := s.usageCSV(days)
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.tenant.downloads[tok] = data
	loc := s.tenant.dlBase + "/data/download/" + tok
	s.mu.Unlock()
	x.w.Header().Set("Location", loc)
	x.w.Header().Set("Content-Type", "text/plain")
	x.w.WriteHeader(http.StatusFound)
}

// usageCSV renders the email app usage report as Graph does: UTF-8 with a byte order
// mark, CRLF line ends, "Yes" or empty in the app columns. Call with s.mu held.
func (s *Server) usageCSV(days int) []byte {
	var b bytes.Buffer
	b.WriteString("\ufeff")
	cw := csv.NewWriter(&b)
	cw.UseCRLF = true
	_ = cw.Write(EmailAppUsageColumns())
	refresh := s.tenant.refreshDate
	if refresh.IsZero() {
		refresh = time.Now().UTC()
	}
	yes := func(v bool) string {
		if v {
			return "Yes"
		}
		return ""
	}
	for _, u := range s.tenant.usage {
		last := ""
		if !u.LastActivity.IsZero() {
			last = u.LastActivity.UTC().Format("2006-01-02")
		}
		deleted := "False"
		if u.Deleted {
			deleted = "True"
		}
		_ = cw.Write([]string{refresh.Format("2006-01-02"), u.User, u.DisplayName, deleted, "", last,
			yes(u.MailForMac), yes(u.OutlookForMac), yes(u.OutlookForWindows), yes(u.OutlookForMobile),
			yes(u.OtherForMobile), yes(u.OutlookForWeb), yes(u.POP3), yes(u.IMAP4), yes(u.SMTP), strconv.Itoa(days)})
	}
	cw.Flush()
	return b.Bytes()
}

// parseSignInFilter turns the $filter subset the sign-in log takes into a predicate:
// comparisons of createdDateTime (ge, gt, le, lt with an unquoted date-time), of
// clientAppUsed, userPrincipalName, appDisplayName and appId (eq, ne with a quoted
// string) and of status/errorCode (eq, ne with an integer), joined with and, or and
// parentheses. Anything else is an error, as Graph's 400 would be.
func parseSignInFilter(f string) (func(*SignIn) bool, error) {
	if strings.TrimSpace(f) == "" {
		return func(*SignIn) bool { return true }, nil
	}
	toks, err := lexFilter(f)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i].s)
	}
	return e, nil
}

type filterTok struct {
	s      string
	quoted bool
}

func lexFilter(f string) ([]filterTok, error) {
	var out []filterTok
	for i := 0; i < len(f); {
		switch c := f[i]; {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			out = append(out, filterTok{s: string(c)})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(f) {
					return nil, fmt.Errorf("unterminated string")
				}
				if f[i] == '\'' {
					if i+1 < len(f) && f[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(f[i])
				i++
			}
			out = append(out, filterTok{s: b.String(), quoted: true})
		default:
			j := i
			for j < len(f) && f[j] != ' ' && f[j] != '(' && f[j] != ')' && f[j] != '\'' {
				j++
			}
			out = append(out, filterTok{s: f[i:j]})
			i = j
		}
	}
	return out, nil
}

type filterParser struct {
	toks []filterTok
	i    int
}

func (p *filterParser) peekWord(w string) bool {
	return p.i < len(p.toks) && !p.toks[p.i].quoted && strings.EqualFold(p.toks[p.i].s, w)
}

func (p *filterParser) or() (func(*SignIn) bool, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peekWord("or") {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(e *SignIn) bool { return a(e) || b(e) }
	}
	return l, nil
}

func (p *filterParser) and() (func(*SignIn) bool, error) {
	l, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peekWord("and") {
		p.i++
		r, err := p.primary()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(e *SignIn) bool { return a(e) && b(e) }
	}
	return l, nil
}

func (p *filterParser) primary() (func(*SignIn) bool, error) {
	if p.peekWord("(") {
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.peekWord(")") {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return e, nil
	}
	if p.i+3 > len(p.toks) {
		return nil, fmt.Errorf("incomplete comparison")
	}
	field, op, val := p.toks[p.i], strings.ToLower(p.toks[p.i+1].s), p.toks[p.i+2]
	p.i += 3
	if field.quoted || p.toks[p.i-2].quoted {
		return nil, fmt.Errorf("expected a property and an operator")
	}
	switch field.s {
	case "createdDateTime":
		if val.quoted {
			return nil, fmt.Errorf("createdDateTime takes an unquoted date-time")
		}
		t, err := time.Parse(time.RFC3339, val.s)
		if err != nil {
			return nil, fmt.Errorf("bad date-time %q", val.s)
		}
		cmp := map[string]func(int) bool{"ge": func(c int) bool { return c >= 0 }, "gt": func(c int) bool { return c > 0 },
			"le": func(c int) bool { return c <= 0 }, "lt": func(c int) bool { return c < 0 }, "eq": func(c int) bool { return c == 0 }}[op]
		if cmp == nil {
			return nil, fmt.Errorf("operator %q on createdDateTime", op)
		}
		return func(e *SignIn) bool { return cmp(e.Time.Compare(t)) }, nil
	case "clientAppUsed", "userPrincipalName", "appDisplayName", "appId":
		if !val.quoted {
			return nil, fmt.Errorf("%s takes a quoted string", field.s)
		}
		get := map[string]func(*SignIn) string{"clientAppUsed": func(e *SignIn) string { return e.ClientApp },
			"userPrincipalName": func(e *SignIn) string { return e.User }, "appDisplayName": func(e *SignIn) string { return e.App },
			"appId": func(e *SignIn) string { return e.AppID }}[field.s]
		switch op {
		case "eq":
			return func(e *SignIn) bool { return strings.EqualFold(get(e), val.s) }, nil
		case "ne":
			return func(e *SignIn) bool { return !strings.EqualFold(get(e), val.s) }, nil
		}
		return nil, fmt.Errorf("operator %q on %s", op, field.s)
	case "status/errorCode":
		n, err := strconv.Atoi(val.s)
		if err != nil || val.quoted {
			return nil, fmt.Errorf("status/errorCode takes an integer")
		}
		switch op {
		case "eq":
			return func(e *SignIn) bool { return e.ErrorCode == n }, nil
		case "ne":
			return func(e *SignIn) bool { return e.ErrorCode != n }, nil
		}
		return nil, fmt.Errorf("operator %q on status/errorCode", op)
	}
	return nil, fmt.Errorf("property %q is not supported", field.s)
}
