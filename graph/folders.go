package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Folders returns the mailbox's top-level mail folders (of msgfolderroot), following
// pages. Hidden folders are left out unless includeHidden.
func (c *Client) Folders(ctx context.Context, includeHidden bool) ([]Folder, error) {
	var q query
	q.addInt("$top", 100)
	if includeHidden {
		q.add("includeHiddenFolders", "true")
	}
	return getPages[Folder](ctx, c, "list folders", c.path("/mailFolders")+q.String())
}

// ChildFolders returns the folders under parent (a folder id or well-known name).
func (c *Client) ChildFolders(ctx context.Context, parent string) ([]Folder, error) {
	if parent == "" {
		return nil, errors.New("graph: ChildFolders: parent must be a folder id or a well-known name")
	}
	var q query
	q.addInt("$top", 100)
	return getPages[Folder](ctx, c, "list child folders", c.path("/mailFolders/"+seg(parent)+"/childFolders")+q.String())
}

// Folder returns one folder by id or well-known name (such as [Inbox]).
func (c *Client) Folder(ctx context.Context, ref string) (*Folder, error) {
	if ref == "" {
		return nil, errors.New("graph: Folder: the folder id or well-known name is empty")
	}
	var f Folder
	if err := c.getJSON(ctx, "get folder", c.path("/mailFolders/"+seg(ref)), nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// CreateFolder creates a folder named name under parent (a folder id or well-known name;
// "" for the top level) and returns it. Graph refuses a name that already exists there
// (ErrorFolderExists).
func (c *Client) CreateFolder(ctx context.Context, parent, name string) (*Folder, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("graph: CreateFolder: the name is empty")
	}
	u := c.path("/mailFolders")
	if parent != "" {
		u = c.path("/mailFolders/" + seg(parent) + "/childFolders")
	}
	var f Folder
	if err := c.sendJSON(ctx, "create folder", http.MethodPost, u, map[string]any{"displayName": name, "isHidden": false}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// FindFolder returns the first top-level folder, or child of parent when parent is not
// empty, whose display name is name (case-insensitively), or an error matching ErrNotFound.
func (c *Client) FindFolder(ctx context.Context, parent, name string) (*Folder, error) {
	var fs []Folder
	var err error
	if parent == "" {
		fs, err = c.Folders(ctx, true)
	} else {
		fs, err = c.ChildFolders(ctx, parent)
	}
	if err != nil {
		return nil, err
	}
	for i := range fs {
		if strings.EqualFold(fs[i].DisplayName, name) {
			return &fs[i], nil
		}
	}
	return nil, &Error{Op: "find folder", StatusCode: http.StatusNotFound, Code: CodeResourceNotFound, Message: "no folder named " + name, Mailbox: c.mailbox}
}
