package autodiscover

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// answer is what one autodiscover response says, whatever its format.
// Exactly one of URL, RedirectAddr, RedirectURL or Err is set.
type answer struct {
	URL          string // the EWS or ActiveSync URL
	Email        string // the address the server says it answered for, if any
	RedirectAddr string
	RedirectURL  string
	Err          *ResponseError
}

// v2Response is the Autodiscover v2 JSON body, e.g.
// {"Protocol":"EWS","Url":"https://outlook.office365.com/EWS/Exchange.asmx"}.
type v2Response struct {
	Protocol     string `json:"Protocol"`
	URL          string `json:"Url"`
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// parseV2 reads a v2 JSON answer to a request for protocol p. A body that
// names another protocol (Exchange Online answers an unknown user with
// Autodiscoverv1) is reported as a ResponseError with code
// "ProtocolMismatch".
func parseV2(body []byte, p Protocol) (answer, error) {
	var r v2Response
	if err := json.Unmarshal(body, &r); err != nil {
		return answer{}, fmt.Errorf("autodiscover: v2 JSON answer: %w", err)
	}
	if r.ErrorCode != "" {
		return answer{Err: &ResponseError{Method: MethodV2, Code: r.ErrorCode, Message: r.ErrorMessage}}, nil
	}
	if !strings.EqualFold(r.Protocol, p.v2Name()) {
		return answer{Err: &ResponseError{Method: MethodV2, Code: "ProtocolMismatch",
			Message: fmt.Sprintf("asked for %s, got %q (Exchange Online answers so when it does not host the mailbox)", p.v2Name(), r.Protocol)}}, nil
	}
	if r.URL == "" {
		return answer{}, errors.New("autodiscover: v2 JSON answer has no Url")
	}
	return answer{URL: r.URL}, nil
}

// poxResponse covers both POX response schemas: the Outlook one
// (Response/Account/...) and the MobileSync one (Response/Action/...), and
// the common error one (Response/Error). Elements are matched by local
// name only, so the https:// namespace spelling of some published samples
// parses as well as the real http:// one.
type poxResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	Response struct {
		Error *struct {
			ErrorCode string `xml:"ErrorCode"`
			Message   string `xml:"Message"`
		} `xml:"Error"`
		User struct {
			AutoDiscoverSMTPAddress string `xml:"AutoDiscoverSMTPAddress"`
			EMailAddress            string `xml:"EMailAddress"`
		} `xml:"User"`
		// Outlook schema.
		Account struct {
			Action       string `xml:"Action"`
			RedirectAddr string `xml:"RedirectAddr"`
			RedirectURL  string `xml:"RedirectURL"`
			RedirectUrl  string `xml:"RedirectUrl"` //lint:ignore ST1003 element name as some servers spell it
			Protocol     []struct {
				Type   string `xml:"Type"`
				EwsURL string `xml:"EwsUrl"`
				ASURL  string `xml:"ASUrl"`
			} `xml:"Protocol"`
		} `xml:"Account"`
		// MobileSync schema.
		Action struct {
			Redirect string `xml:"Redirect"`
			Settings struct {
				Server []struct {
					Type string `xml:"Type"`
					URL  string `xml:"Url"`
				} `xml:"Server"`
			} `xml:"Settings"`
			Error *struct {
				Status  string `xml:"Status"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		} `xml:"Action"`
	} `xml:"Response"`
}

// parsePOX reads a POX answer (either schema) for protocol p.
func parsePOX(body []byte, p Protocol) (answer, error) {
	var r poxResponse
	if err := decodeXML(body, &r); err != nil {
		return answer{}, fmt.Errorf("autodiscover: POX answer: %w", err)
	}
	resp := &r.Response
	if e := resp.Error; e != nil {
		return answer{Err: &ResponseError{Method: MethodPOX, Code: strings.TrimSpace(e.ErrorCode), Message: strings.TrimSpace(e.Message)}}, nil
	}
	email := strings.TrimSpace(resp.User.AutoDiscoverSMTPAddress)
	if email == "" {
		email = strings.TrimSpace(resp.User.EMailAddress)
	}
	// MobileSync schema.
	if e := resp.Action.Error; e != nil {
		return answer{Err: &ResponseError{Method: MethodPOX, Code: strings.TrimSpace(e.Status), Message: strings.TrimSpace(e.Message)}}, nil
	}
	if a := strings.TrimSpace(resp.Action.Redirect); a != "" {
		return answer{RedirectAddr: a}, nil
	}
	if p == ActiveSync {
		for _, s := range resp.Action.Settings.Server {
			if strings.TrimSpace(s.Type) == "MobileSync" {
				if u := strings.TrimSpace(s.URL); u != "" {
					return answer{URL: u, Email: email}, nil
				}
			}
		}
	}
	// Outlook schema.
	acct := &resp.Account
	switch strings.ToLower(strings.TrimSpace(acct.Action)) {
	case "redirectaddr":
		if a := strings.TrimSpace(acct.RedirectAddr); a != "" {
			return answer{RedirectAddr: a}, nil
		}
		return answer{}, errors.New("autodiscover: POX redirectAddr answer has no RedirectAddr")
	case "redirecturl":
		u := strings.TrimSpace(acct.RedirectURL)
		if u == "" {
			u = strings.TrimSpace(acct.RedirectUrl)
		}
		if u != "" {
			return answer{RedirectURL: u}, nil
		}
		return answer{}, errors.New("autodiscover: POX redirectUrl answer has no RedirectURL")
	}
	if p == EWS {
		// EXPR (outside access) first, then EXCH; EwsUrl first, then the
		// availability URL, which is the EWS endpoint on Exchange 2007.
		for _, pick := range []func(t, ews, as string) string{
			func(t, ews, _ string) string { return iff(t == "EXPR", ews) },
			func(t, ews, _ string) string { return iff(t == "EXCH", ews) },
			func(t, _, as string) string { return iff(t == "EXPR", as) },
			func(t, _, as string) string { return iff(t == "EXCH", as) },
		} {
			for _, pr := range acct.Protocol {
				if u := strings.TrimSpace(pick(strings.TrimSpace(pr.Type), pr.EwsURL, pr.ASURL)); u != "" {
					return answer{URL: u, Email: email}, nil
				}
			}
		}
	}
	return answer{Err: &ResponseError{Method: MethodPOX, Code: "NoSetting", Message: "the answer has no " + string(p) + " URL"}}, nil
}

func iff(cond bool, s string) string {
	if cond {
		return s
	}
	return ""
}

// soapResponse is a GetUserSettings response envelope, or a SOAP fault.
type soapResponse struct {
	XMLName xml.Name `xml:"Envelope"`
	Body    struct {
		Fault *struct {
			Code   string `xml:"faultcode"`
			String string `xml:"faultstring"`
		} `xml:"Fault"`
		Message *struct {
			Response struct {
				ErrorCode     string `xml:"ErrorCode"`
				ErrorMessage  string `xml:"ErrorMessage"`
				UserResponses struct {
					UserResponse []struct {
						ErrorCode      string `xml:"ErrorCode"`
						ErrorMessage   string `xml:"ErrorMessage"`
						RedirectTarget string `xml:"RedirectTarget"`
						UserSettings   struct {
							UserSetting []struct {
								Name  string `xml:"Name"`
								Value string `xml:"Value"`
							} `xml:"UserSetting"`
						} `xml:"UserSettings"`
					} `xml:"UserResponse"`
				} `xml:"UserResponses"`
			} `xml:"Response"`
		} `xml:"GetUserSettingsResponseMessage"`
	} `xml:"Body"`
}

// parseSOAP reads a GetUserSettings answer for EWS.
func parseSOAP(body []byte) (answer, error) {
	var r soapResponse
	if err := decodeXML(body, &r); err != nil {
		return answer{}, fmt.Errorf("autodiscover: SOAP answer: %w", err)
	}
	if f := r.Body.Fault; f != nil {
		return answer{Err: &ResponseError{Method: MethodSOAP, Code: strings.TrimSpace(f.Code), Message: strings.TrimSpace(f.String)}}, nil
	}
	m := r.Body.Message
	if m == nil {
		return answer{}, errors.New("autodiscover: SOAP answer has no GetUserSettingsResponseMessage")
	}
	if c := strings.TrimSpace(m.Response.ErrorCode); c != "" && c != "NoError" {
		return answer{Err: &ResponseError{Method: MethodSOAP, Code: c, Message: strings.TrimSpace(m.Response.ErrorMessage)}}, nil
	}
	urs := m.Response.UserResponses.UserResponse
	if len(urs) == 0 {
		return answer{}, errors.New("autodiscover: SOAP answer has no UserResponse")
	}
	ur := urs[0]
	target := strings.TrimSpace(ur.RedirectTarget)
	switch c := strings.TrimSpace(ur.ErrorCode); c {
	case "", "NoError":
	case "RedirectAddress":
		if target == "" {
			return answer{}, errors.New("autodiscover: SOAP RedirectAddress answer has no RedirectTarget")
		}
		return answer{RedirectAddr: target}, nil
	case "RedirectUrl":
		if target == "" {
			return answer{}, errors.New("autodiscover: SOAP RedirectUrl answer has no RedirectTarget")
		}
		return answer{RedirectURL: target}, nil
	default:
		return answer{Err: &ResponseError{Method: MethodSOAP, Code: c, Message: strings.TrimSpace(ur.ErrorMessage)}}, nil
	}
	settings := map[string]string{}
	for _, s := range ur.UserSettings.UserSetting {
		settings[strings.TrimSpace(s.Name)] = strings.TrimSpace(s.Value)
	}
	for _, name := range []string{"ExternalEwsUrl", "InternalEwsUrl"} {
		if u := settings[name]; u != "" {
			return answer{URL: u, Email: settings["AutoDiscoverSMTPAddress"]}, nil
		}
	}
	return answer{Err: &ResponseError{Method: MethodSOAP, Code: "NoSetting", Message: "the answer has neither ExternalEwsUrl nor InternalEwsUrl"}}, nil
}

// decodeXML decodes one document into v. encoding/xml refuses DTDs'
// entity definitions and bounds nesting depth itself; the caller bounds
// the size.
func decodeXML(body []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		// Autodiscover answers are UTF-8; accept the common aliases only.
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return input, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	return d.Decode(v)
}
