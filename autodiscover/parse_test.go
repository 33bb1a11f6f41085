package autodiscover

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestParsePOXSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string
		proto Protocol
		want  answer
		code  string // expected ResponseError code
	}{
		{name: "settings docs (ASUrl, EXPR)", file: "pox_response_settings_docs.xml", proto: EWS,
			want: answer{URL: "https://mail.contoso.com/ews/exchange.asmx"}},
		{name: "settings exchangelib", file: "pox_response_settings_exchangelib.xml", proto: EWS,
			want: answer{URL: "https://expr.example.com/EWS/Exchange.asmx", Email: "john@example.com"}},
		{name: "EXPR preferred over EXCH", file: "pox_response_exch_and_expr_exchangelib.xml", proto: EWS,
			want: answer{URL: "https://expr.example.com/EWS/Exchange.asmx", Email: "john@demo.affect-it.dk"}},
		{name: "redirectAddr docs", file: "pox_response_redirectAddr_docs.xml", proto: EWS,
			want: answer{RedirectAddr: "elvin@mail.contoso.com"}},
		{name: "redirectAddr exchangelib", file: "pox_response_redirectAddr_exchangelib.xml", proto: EWS,
			want: answer{RedirectAddr: "john@redirected.example.com"}},
		{name: "redirectUrl exchangelib", file: "pox_response_redirectUrl_exchangelib.xml", proto: EWS,
			want: answer{RedirectURL: "https://redirected.example.com/Autodiscover/Autodiscover.xml"}},
		{name: "error 600", file: "pox_response_error_docs.xml", proto: EWS, code: "600"},
		{name: "mobilesync settings (spaces trimmed)", file: "mobilesync_response_settings_msascmd.xml", proto: ActiveSync,
			want: answer{URL: "https://loandept.woodgrovebank.com/Microsoft-Server-ActiveSync", Email: "chris@woodgrovebank.com"}},
		{name: "mobilesync answer has no EWS URL", file: "mobilesync_response_settings_msascmd.xml", proto: EWS, code: "NoSetting"},
		{name: "outlook answer has no ActiveSync URL", file: "pox_response_settings_exchangelib.xml", proto: ActiveSync, code: "NoSetting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePOX(sample(t, tc.file), tc.proto)
			require.NoError(t, err)
			if tc.code != "" {
				require.NotNil(t, got.Err, "want a ResponseError")
				assert.Equal(t, tc.code, got.Err.Code)
				return
			}
			assert.Nil(t, got.Err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseSOAPSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want answer
		code string
	}{
		{name: "settings exchangelib", file: "soap_response_settings_exchangelib.xml",
			want: answer{URL: "https://expr.example.com/EWS/Exchange.asmx", Email: "john@example.com"}},
		{name: "RedirectAddress docs", file: "soap_response_redirectaddress_docs.xml",
			want: answer{RedirectAddr: "elvin@mail.contoso.com"}},
		{name: "RedirectAddress exchangelib", file: "soap_response_redirectaddress_exchangelib.xml",
			want: answer{RedirectAddr: "john@redirected.example.com"}},
		{name: "RedirectUrl exchangelib", file: "soap_response_redirecturl_exchangelib.xml",
			want: answer{RedirectURL: "https://redirected.example.com/autodiscover/autodiscover.svc"}},
		// The docs' GetUserSettings sample asks for no EWS URL setting.
		{name: "docs sample without EWS settings", file: "soap_getusersettings_response_docs.xml", code: "NoSetting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseSOAP(sample(t, tc.file))
			require.NoError(t, err)
			if tc.code != "" {
				require.NotNil(t, got.Err)
				assert.Equal(t, tc.code, got.Err.Code)
				return
			}
			assert.Nil(t, got.Err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseSOAPFaultAndErrors(t *testing.T) {
	t.Parallel()
	fault := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad</faultstring></s:Fault></s:Body></s:Envelope>`
	got, err := parseSOAP([]byte(fault))
	require.NoError(t, err)
	require.NotNil(t, got.Err)
	assert.Equal(t, "s:Client", got.Err.Code)
	assert.Equal(t, "bad", got.Err.Message)

	busy := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetUserSettingsResponseMessage xmlns="http://schemas.microsoft.com/exchange/2010/Autodiscover"><Response><ErrorCode>NoError</ErrorCode><UserResponses><UserResponse><ErrorCode>ServerBusy</ErrorCode><ErrorMessage>busy</ErrorMessage></UserResponse></UserResponses></Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>`
	got, err = parseSOAP([]byte(busy))
	require.NoError(t, err)
	require.NotNil(t, got.Err)
	assert.Equal(t, "ServerBusy", got.Err.Code)
	assert.Contains(t, got.Err.Error(), "try again later")

	_, err = parseSOAP([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`))
	assert.Error(t, err, "an envelope without a message is an error")
	_, err = parseSOAP([]byte(`<notxml`))
	assert.Error(t, err)
}

func TestParseV2(t *testing.T) {
	t.Parallel()
	got, err := parseV2([]byte(`{"Protocol":"EWS","Url":"https://outlook.office365.com/EWS/Exchange.asmx"}`), EWS)
	require.NoError(t, err)
	assert.Equal(t, answer{URL: "https://outlook.office365.com/EWS/Exchange.asmx"}, got)

	got, err = parseV2([]byte(`{"Protocol":"ActiveSync","Url":"https://outlook.office365.com/Microsoft-Server-ActiveSync"}`), ActiveSync)
	require.NoError(t, err)
	assert.Equal(t, "https://outlook.office365.com/Microsoft-Server-ActiveSync", got.URL)

	// The captured answer for a mailbox Exchange Online does not host.
	got, err = parseV2(sample(t, "v2_json_response_body_autodiscoverv1.json"), EWS)
	require.NoError(t, err)
	require.NotNil(t, got.Err)
	assert.Equal(t, "ProtocolMismatch", got.Err.Code)

	got, err = parseV2([]byte(`{"ErrorCode":"InternalServerError","ErrorMessage":"Failed"}`), EWS)
	require.NoError(t, err)
	require.NotNil(t, got.Err)
	assert.Equal(t, "InternalServerError", got.Err.Code)

	_, err = parseV2([]byte(`{"Protocol":"EWS"}`), EWS)
	assert.Error(t, err, "no Url")
	_, err = parseV2([]byte(`[`), EWS)
	assert.Error(t, err)
}

// The request bodies are well-formed and carry the namespaces the servers
// check ([MS-ASCMD] 2.2.3.1 for MobileSync).
func TestRequestBodies(t *testing.T) {
	t.Parallel()
	var pox struct {
		XMLName xml.Name `xml:"Autodiscover"`
		Email   string   `xml:"Request>EMailAddress"`
		Schema  string   `xml:"Request>AcceptableResponseSchema"`
	}
	require.NoError(t, xml.Unmarshal(poxRequest("a&b@contoso.test", ActiveSync), &pox))
	assert.Equal(t, nsMobileRequest, pox.XMLName.Space)
	assert.Equal(t, nsMobileResponse, pox.Schema)
	assert.Equal(t, "a&b@contoso.test", pox.Email)
	assert.Equal(t, string(sample(t, "mobilesync_request_constructed.xml")),
		string(poxRequest("chris@woodgrovebank.com", ActiveSync)), "same bytes as the constructed MS-ASCMD request")

	require.NoError(t, xml.Unmarshal(poxRequest("u@contoso.test", EWS), &pox))
	assert.Equal(t, nsOutlookRequest, pox.XMLName.Space)
	assert.Equal(t, nsOutlookResponse, pox.Schema)

	var soap struct {
		Action  string   `xml:"Header>Action"`
		To      string   `xml:"Header>To"`
		Mailbox string   `xml:"Body>GetUserSettingsRequestMessage>Request>Users>User>Mailbox"`
		Setting []string `xml:"Body>GetUserSettingsRequestMessage>Request>RequestedSettings>Setting"`
	}
	require.NoError(t, xml.Unmarshal(soapRequest("u@contoso.test", "https://x.contoso.test/autodiscover/autodiscover.svc"), &soap))
	assert.Equal(t, soapActionGUS, soap.Action)
	assert.Equal(t, "https://x.contoso.test/autodiscover/autodiscover.svc", soap.To)
	assert.Equal(t, "u@contoso.test", soap.Mailbox)
	assert.Contains(t, soap.Setting, "ExternalEwsUrl")
}

func TestSplitEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		addr   string
		domain string
		ok     bool
	}{
		{"alice@Contoso.Test", "alice@contoso.test", "contoso.test", true},
		{" bob@mail.contoso.test ", "bob@mail.contoso.test", "mail.contoso.test", true},
		{"alice@test", "", "", false},          // single label: would ask autodiscover.test
		{"alice@", "", "", false},              //
		{"@contoso.test", "", "", false},       //
		{"a/b@contoso.test", "", "", false},    // would change the v2 path
		{"a@contoso.test/x", "", "", false},    //
		{"a@contoso.test:443", "", "", false},  //
		{"a@-bad.contoso.test", "", "", false}, //
		{"a@contoso..test", "", "", false},     //
		{"a b@contoso.test", "", "", false},    //
		{"a@b@contoso.test", "", "", false},    // '@' in the local part
		{"a@xn--bcher-kva.test", "a@xn--bcher-kva.test", "xn--bcher-kva.test", true},
	}
	for _, tc := range tests {
		addr, domain, err := splitEmail(tc.in)
		if !tc.ok {
			assert.ErrorIs(t, err, ErrInvalidEmail, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.addr, addr)
		assert.Equal(t, tc.domain, domain)
	}
}
