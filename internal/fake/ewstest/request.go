package ewstest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
)

// node is a generic XML element of a request.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n *node) name() string {
	if n == nil {
		return ""
	}
	return n.XMLName.Local
}

func (n *node) attr(name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	return nil
}

// path follows child names.
func (n *node) path(names ...string) *node {
	for _, name := range names {
		n = n.child(name)
	}
	return n
}

func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

// rawText is the untrimmed character data, "" for a missing element.
func (n *node) rawText() string {
	if n == nil {
		return ""
	}
	return n.Text
}

func (n *node) elems() []*node {
	if n == nil {
		return nil
	}
	out := make([]*node, len(n.Nodes))
	for i := range n.Nodes {
		out[i] = &n.Nodes[i]
	}
	return out
}

type envelope struct {
	version      string
	impersonated string
	op           *node
}

// parseEnvelope reads a request and checks the namespaces a real Exchange
// server checks: the SOAP 1.1 envelope, the messages namespace for the
// operation and the types namespace for the header blocks.
func parseEnvelope(body []byte) (*envelope, error) {
	var root node
	d := xml.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&root); err != nil {
		return nil, err
	}
	if root.XMLName.Local != "Envelope" || root.XMLName.Space != nsSOAP {
		return nil, fmt.Errorf("root element is {%s}%s, want {%s}Envelope", root.XMLName.Space, root.XMLName.Local, nsSOAP)
	}
	env := &envelope{}
	if h := root.child("Header"); h != nil {
		for _, b := range h.elems() {
			if b.XMLName.Space != nsTypes {
				return nil, fmt.Errorf("header block %s is not in the types namespace", b.name())
			}
			switch b.name() {
			case "RequestServerVersion":
				env.version = b.attr("Version")
			case "ExchangeImpersonation":
				sid := b.child("ConnectingSID")
				for _, k := range []string{"SmtpAddress", "PrimarySmtpAddress", "PrincipalName"} {
					if v := sid.child(k).text(); v != "" {
						env.impersonated = v
					}
				}
				if env.impersonated == "" {
					return nil, errors.New("ExchangeImpersonation without ConnectingSID address")
				}
			}
		}
	}
	body1 := root.child("Body")
	if body1 == nil || len(body1.Nodes) == 0 {
		return nil, errors.New("no operation in the SOAP Body")
	}
	env.op = &body1.Nodes[0]
	if env.op.XMLName.Space != nsMessages {
		return nil, fmt.Errorf("operation %s is not in the messages namespace", env.op.name())
	}
	return env, nil
}
