package autodiscover

import (
	"bytes"
	"encoding/xml"
)

// XML namespaces of the requests (the real ones are http://, see the
// research notes on the https:// spelling in some published samples).
const (
	nsOutlookRequest   = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsOutlookResponse  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	nsMobileRequest    = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	nsMobileResponse   = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
	nsSOAPAutodiscover = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
	soapActionGUS      = nsSOAPAutodiscover + "/Autodiscover/GetUserSettings"
)

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// poxRequest builds the POX request body: the Outlook schema for EWS, the
// MobileSync schema for ActiveSync ([MS-ASCMD] 2.2.3.1).
func poxRequest(email string, p Protocol) []byte {
	reqNS, respNS := nsOutlookRequest, nsOutlookResponse
	if p == ActiveSync {
		reqNS, respNS = nsMobileRequest, nsMobileResponse
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<Autodiscover xmlns="` + reqNS + `">` + "\n")
	b.WriteString("  <Request>\n")
	b.WriteString("    <EMailAddress>" + xmlEscape(email) + "</EMailAddress>\n")
	b.WriteString("    <AcceptableResponseSchema>" + respNS + "</AcceptableResponseSchema>\n")
	b.WriteString("  </Request>\n")
	b.WriteString("</Autodiscover>\n")
	return b.Bytes()
}

// soapRequest builds a GetUserSettings request for the EWS URL settings,
// addressed (WS-Addressing To) to endpoint.
func soapRequest(email, endpoint string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<soap:Envelope xmlns:a="` + nsSOAPAutodiscover + `" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">` + "\n")
	b.WriteString("  <soap:Header>\n")
	b.WriteString("    <a:RequestedServerVersion>Exchange2010</a:RequestedServerVersion>\n")
	b.WriteString("    <wsa:Action>" + soapActionGUS + "</wsa:Action>\n")
	b.WriteString("    <wsa:To>" + xmlEscape(endpoint) + "</wsa:To>\n")
	b.WriteString("  </soap:Header>\n")
	b.WriteString("  <soap:Body>\n")
	b.WriteString("    <a:GetUserSettingsRequestMessage>\n")
	b.WriteString("      <a:Request>\n")
	b.WriteString("        <a:Users><a:User><a:Mailbox>" + xmlEscape(email) + "</a:Mailbox></a:User></a:Users>\n")
	b.WriteString("        <a:RequestedSettings>\n")
	for _, s := range []string{"AutoDiscoverSMTPAddress", "ExternalEwsUrl", "InternalEwsUrl"} {
		b.WriteString("          <a:Setting>" + s + "</a:Setting>\n")
	}
	b.WriteString("        </a:RequestedSettings>\n")
	b.WriteString("      </a:Request>\n")
	b.WriteString("    </a:GetUserSettingsRequestMessage>\n")
	b.WriteString("  </soap:Body>\n")
	b.WriteString("</soap:Envelope>\n")
	return b.Bytes()
}
