package cloud

import (
	"slices"
	"strings"
	"testing"
)

func TestGraphEndpoints(t *testing.T) {
	want := map[string]string{
		"global":   "graph.microsoft.com",
		"usgov":    "graph.microsoft.us",
		"usgovdod": "dod-graph.microsoft.us",
		"china":    "microsoftgraph.chinacloudapi.cn",
	}
	for _, c := range All() {
		if got := c.GraphHost(); got != want[c.Name] {
			t.Errorf("%s: GraphHost = %q, want %q", c.Name, got, want[c.Name])
		}
		if c.GraphURL != "https://"+want[c.Name] {
			t.Errorf("%s: GraphURL = %q", c.Name, c.GraphURL)
		}
		if got := c.GraphAppOnlyScope(); got != c.GraphURL+"/.default" {
			t.Errorf("%s: GraphAppOnlyScope = %q", c.Name, got)
		}
		s := c.GraphDelegatedScopes()
		if !slices.Equal(s, []string{c.GraphURL + "/Mail.ReadWrite", c.GraphURL + "/Mail.Send", "offline_access"}) {
			t.Errorf("%s: GraphDelegatedScopes = %v", c.Name, s)
		}
		if !slices.Equal(c.DelegatedScopes(Graph), s) || c.DelegatedScope(Graph) != c.GraphURL+"/Mail.ReadWrite" {
			t.Errorf("%s: DelegatedScopes(Graph) = %v", c.Name, c.DelegatedScopes(Graph))
		}
		if slices.Contains(c.Hosts(), c.GraphHost()) {
			t.Errorf("%s: Hosts (the Exchange allow-list) must not hold the Graph host", c.Name)
		}
		if !IsGraphAudience(c.GraphURL) || !IsGraphAudience(c.GraphURL+"/") || IsExchangeAudience(c.GraphURL) {
			t.Errorf("%s: the Graph URL is not recognised as a Graph audience", c.Name)
		}
		if IsGraphAudience(c.Resource) || !IsExchangeAudience(c.Resource) {
			t.Errorf("%s: the Exchange resource is taken for Graph", c.Name)
		}
	}
	if slices.Contains(Protocols(), Graph) {
		t.Error("Protocols lists Graph; it lists Exchange protocols only")
	}
	if AppPermission(Graph) != "Mail.ReadWrite" {
		t.Errorf("AppPermission(Graph) = %q", AppPermission(Graph))
	}
	for _, aud := range []string{GraphAppID, strings.ToUpper(GraphAppID), " https://GRAPH.microsoft.com/ "} {
		if !IsGraphAudience(aud) {
			t.Errorf("IsGraphAudience(%q) = false", aud)
		}
	}
	for _, aud := range []string{"https://graph.windows.net", "api://graph.microsoft.com", "", "https://outlook.office.com"} {
		if IsGraphAudience(aud) {
			t.Errorf("IsGraphAudience(%q) = true", aud)
		}
	}
	for _, aud := range []string{ExchangeAppID, "https://outlook.office.com/", "https://ps.outlook.com"} {
		if !IsExchangeAudience(aud) {
			t.Errorf("IsExchangeAudience(%q) = false", aud)
		}
	}
}
