package eas

import (
	"maps"
	"slices"
)

// State is what a client must keep between runs to continue where it
// stopped: the endpoint after a redirect, the policy key, the folder
// hierarchy sync key and folders, and one sync key per synchronized
// folder. It marshals to and from JSON; persist [Client.State] after each
// run and pass it back in [Options.State].
//
// A State holds no credentials. A sync key is only meaningful to the
// server that issued it, for this device ID.
type State struct {
	// URL is the ActiveSync endpoint, set after an HTTP 451 redirect.
	URL string `json:"url,omitempty"`
	// ProtocolVersion is the version negotiated with the server.
	ProtocolVersion string `json:"protocol_version,omitempty"`
	// PolicyKey is the final policy key from Provision.
	PolicyKey string `json:"policy_key,omitempty"`
	// FolderSyncKey is the folder hierarchy's sync key ("" or "0": none).
	FolderSyncKey string `json:"folder_sync_key,omitempty"`
	// Folders is the folder hierarchy as of FolderSyncKey.
	Folders []Folder `json:"folders,omitempty"`
	// SyncKeys maps a collection (folder) ID to its item sync key.
	SyncKeys map[string]string `json:"sync_keys,omitempty"`
}

func (s State) clone() State {
	s.Folders = slices.Clone(s.Folders)
	s.SyncKeys = maps.Clone(s.SyncKeys)
	return s
}

// Folder finds a folder by display name or server ID in the state's
// hierarchy; ok is false when there is none.
func (s *State) Folder(nameOrID string) (f Folder, ok bool) {
	for _, f := range s.Folders {
		if f.ServerID == nameOrID {
			return f, true
		}
	}
	for _, f := range s.Folders {
		if f.DisplayName == nameOrID {
			return f, true
		}
	}
	return Folder{}, false
}

func (c *Client) syncKey(collectionID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.state.SyncKeys[collectionID]; k != "" {
		return k
	}
	return "0"
}

func (c *Client) setSyncKey(collectionID, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.SyncKeys == nil {
		c.state.SyncKeys = map[string]string{}
	}
	c.state.SyncKeys[collectionID] = key
}
