package autodiscover

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
)

// scriptedTransport answers every request from a fuzzed script and
// checks the security invariants on each request it sees.
type scriptedTransport struct {
	t      *testing.T
	script [][]byte
	mu     sync.Mutex
	n      int
}

func (s *scriptedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	host := strings.ToLower(req.URL.Hostname())
	allowed := host == "outlook.cloud.test" || host == "contoso.test" || strings.HasSuffix(host, ".contoso.test")
	if !allowed {
		s.t.Fatalf("request to %s, outside the allow-list", req.URL)
	}
	if req.URL.Scheme != "https" && !(req.Method == http.MethodGet && req.URL.Path == "/autodiscover/autodiscover.xml" && req.Header.Get("Authorization") == "") {
		s.t.Fatalf("plain-http request other than the anonymous probe: %s %s", req.Method, req.URL)
	}
	if a := req.Header.Get("Authorization"); a != "" && host != "outlook.cloud.test" {
		s.t.Fatalf("token sent to %s", host)
	}
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	if i > 200 {
		s.t.Fatal("more than 200 requests in one lookup")
	}
	if len(s.script) == 0 {
		return nil, errors.New("no answer")
	}
	step := s.script[i%len(s.script)]
	// step: status selector, then "Location\n" and the body.
	status := []int{200, 302, 401, 404, 500, 301, 307}[int(firstByte(step))%7]
	rest := step
	if len(rest) > 0 {
		rest = rest[1:]
	}
	loc, body, _ := bytes.Cut(rest, []byte("\n"))
	h := http.Header{}
	if status >= 300 && status < 400 {
		h.Set("Location", string(loc))
	}
	if status == 401 {
		h.Set("WWW-Authenticate", "Bearer "+string(loc))
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

type noResolver struct{}

func (noResolver) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, errors.New("no DNS in this test")
}

// FuzzLookup drives a whole lookup with fuzzed server answers (statuses,
// Locations, bodies) and checks that it ends without panicking, within
// the redirect budget, and never sends a request (or a token) where the
// rules forbid.
func FuzzLookup(f *testing.F) {
	f.Add([]byte("\x00\n{\"Protocol\":\"EWS\",\"Url\":\"https://outlook.cloud.test/EWS/Exchange.asmx\"}"), []byte{}, []byte{})
	f.Add([]byte("\x01https://evil.example/autodiscover/autodiscover.xml\n"), []byte("\x01http://a.contoso.test/autodiscover/autodiscover.xml\n"), []byte("\x02\n"))
	f.Add([]byte("\x00\n<Autodiscover><Response><Account><Action>redirectUrl</Action><RedirectURL>https://a.contoso.test/autodiscover/autodiscover.xml</RedirectURL></Account></Response></Autodiscover>"),
		[]byte("\x00\n<Autodiscover><Response><Account><Action>redirectAddr</Action><RedirectAddr>x@other.example</RedirectAddr></Account></Response></Autodiscover>"),
		[]byte("\x00\n<Autodiscover><Response><Account><Action>settings</Action><Protocol><Type>EXPR</Type><EwsUrl>https://mail.contoso.test/EWS/Exchange.asmx</EwsUrl></Protocol></Account></Response></Autodiscover>"))
	f.Add([]byte("\x02authorization_uri=\"x\"\n"), []byte("\x01/relative/autodiscover/autodiscover.svc\n"), []byte("\x00\n<Envelope><Body><GetUserSettingsResponseMessage><Response><UserResponses><UserResponse><ErrorCode>RedirectAddress</ErrorCode><RedirectTarget>u@contoso.test</RedirectTarget></UserResponse></UserResponses></Response></GetUserSettingsResponseMessage></Body></Envelope>"))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		tr := &scriptedTransport{t: t, script: [][]byte{a, b, c}}
		cl := cloud.Cloud{Name: "fuzz", Resource: "https://outlook.cloud.test", AutodiscoverHost: "outlook.cloud.test"}
		client, err := New(&Options{Cloud: cl, Transport: tr, Resolver: noResolver{}, CacheTTL: -1,
			Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "fuzz-token"})})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range []Protocol{EWS, ActiveSync} {
			res, err := client.Lookup(ctx, "user@contoso.test", p)
			if err == nil {
				if !strings.HasPrefix(res.URL, "https://") || res.Redirects > DefaultMaxRedirects {
					t.Fatalf("bad result %+v", res)
				}
				continue
			}
			if strings.Contains(err.Error(), "fuzz-token") {
				t.Fatal("token in error text")
			}
		}
	})
}
