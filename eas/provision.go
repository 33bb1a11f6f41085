package eas

import (
	"context"
	"strconv"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// PolicyTypeWBXML is the policy type for protocol 12.0 and later
// ([MS-ASPROV] 2.2.2.43).
const PolicyTypeWBXML = "MS-EAS-Provisioning-WBXML"

// Policy is the outcome of [Client.Provision].
type Policy struct {
	// Key is the final policy key, now sent in X-MS-PolicyKey ("" when the
	// server has no policy for this client).
	Key string
	// Settings holds the EASProvisionDoc elements by name (for example
	// "DevicePasswordEnabled": "0"); an element the server sent empty maps
	// to "". The client does not enforce them: it is not a phone.
	Settings map[string]string
}

// Provision runs the two phases of [MS-ASPROV] 3.1.5.1: it asks for the
// policy (sending settings:DeviceInformation), receives a temporary policy
// key, acknowledges the policy with status 1 and keeps the final key for
// all later requests. It does network I/O and blocks; concurrent calls run
// one after the other.
//
// Commands provision by themselves when the server asks, so calling
// Provision first is optional; it saves one round trip.
//
// A server-requested remote wipe is not acknowledged: Provision returns
// [ErrRemoteWipe].
func (c *Client) Provision(ctx context.Context) (*Policy, error) {
	c.provMu.Lock()
	defer c.provMu.Unlock()
	return c.provisionLocked(ctx)
}

// reprovision runs Provision unless another call already replaced the
// policy key stale, which the server just refused.
func (c *Client) reprovision(ctx context.Context, stale string) error {
	c.provMu.Lock()
	defer c.provMu.Unlock()
	if cur := c.PolicyKey(); cur != "" && cur != stale {
		return nil
	}
	_, err := c.provisionLocked(ctx)
	return err
}

func (c *Client) provisionLocked(ctx context.Context) (*Policy, error) {
	// Phase 1: ask for the policy.
	// settings:DeviceInformation is required on the initial request from
	// 14.1 on ([MS-ASPROV] 3.1.5.1.1).
	req := wbxml.Elem("Provision", "Provision",
		c.deviceInformation(),
		wbxml.Elem("Provision", "Policies",
			wbxml.Elem("Provision", "Policy",
				wbxml.Text("Provision", "PolicyType", PolicyTypeWBXML))))
	resp, err := c.exchange(ctx, "Provision", req, true, "")
	if err != nil {
		return nil, err
	}
	pol, temp, err := parseProvision(resp, true)
	if err != nil {
		return nil, err
	}
	if temp == "" {
		// No policy for this client (Policy status 2): nothing to
		// acknowledge.
		c.setPolicyKey("")
		return pol, nil
	}

	// Phase 2: acknowledge it with the temporary key.
	ack := wbxml.Elem("Provision", "Provision",
		wbxml.Elem("Provision", "Policies",
			wbxml.Elem("Provision", "Policy",
				wbxml.Text("Provision", "PolicyType", PolicyTypeWBXML),
				wbxml.Text("Provision", "PolicyKey", temp),
				wbxml.Text("Provision", "Status", "1"))))
	resp, err = c.exchange(ctx, "Provision", ack, true, temp)
	if err != nil {
		return nil, err
	}
	ackPol, final, err := parseProvision(resp, false)
	if err != nil {
		return nil, err
	}
	if final == "" {
		return nil, ErrNoPolicyKey
	}
	pol.Key = final
	if len(ackPol.Settings) > 0 {
		pol.Settings = ackPol.Settings
	}
	c.setPolicyKey(final)
	return pol, nil
}

func (c *Client) setPolicyKey(k string) {
	c.mu.Lock()
	c.state.PolicyKey = k
	c.mu.Unlock()
}

func (c *Client) deviceInformation() *wbxml.Node {
	d := c.device
	if d.Model == "" {
		d.Model = "mailauth"
	}
	if d.FriendlyName == "" {
		d.FriendlyName = "mailauth"
	}
	if d.OS == "" {
		d.OS = "Go"
	}
	if d.UserAgent == "" {
		d.UserAgent = c.userAgent
	}
	return wbxml.Elem("Settings", "DeviceInformation",
		wbxml.Elem("Settings", "Set",
			wbxml.Text("Settings", "Model", d.Model),
			wbxml.Text("Settings", "FriendlyName", d.FriendlyName),
			wbxml.Text("Settings", "OS", d.OS),
			wbxml.Text("Settings", "UserAgent", d.UserAgent)))
}

// parseProvision reads a Provision response. It returns the policy, and
// the policy key it carries ("" when the server has no policy for this
// client and initial is set).
func parseProvision(n *wbxml.Node, initial bool) (*Policy, string, error) {
	if n == nil || n.Name != "Provision" {
		return nil, "", &ProtocolError{Command: "Provision", Reason: "the body is not a Provision element"}
	}
	if st := childText(n, "Status"); st != "1" {
		code, err := strconv.Atoi(st)
		if err != nil {
			return nil, "", &ProtocolError{Command: "Provision", Reason: "missing or malformed Status"}
		}
		return nil, "", newStatusError("Provision", provisionStatus, code)
	}
	if child(n, "RemoteWipe") != nil {
		return nil, "", ErrRemoteWipe
	}
	p := child(child(n, "Policies"), "Policy")
	if p == nil {
		return nil, "", &ProtocolError{Command: "Provision", Reason: "no Policies/Policy element"}
	}
	pol := &Policy{Settings: map[string]string{}}
	for _, s := range children(child(child(p, "Data"), "EASProvisionDoc")) {
		pol.Settings[s.Name] = text(s)
	}
	key := childText(p, "PolicyKey")
	switch st := childText(p, "Status"); st {
	case "1":
	case "2":
		if initial && key == "" {
			return pol, "", nil
		}
	default:
		code, err := strconv.Atoi(st)
		if err != nil {
			return nil, "", &ProtocolError{Command: "Provision", Reason: "missing or malformed Policy Status"}
		}
		return nil, "", newStatusError("Provision/Policy", policyStatus, code)
	}
	if key == "" {
		return nil, "", ErrNoPolicyKey
	}
	return pol, key, nil
}
