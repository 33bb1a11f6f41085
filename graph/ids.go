package graph

import (
	"context"
	"errors"
	"net/http"
)

// IDType is an Exchange id format that [Client.TranslateExchangeIDs] converts between.
type IDType string

// The id formats of translateExchangeIds.
const (
	EWSID                IDType = "ewsId"                // EWS ItemId/FolderId (standard base64)
	EntryID              IDType = "entryId"              // MAPI PR_ENTRYID, base64
	RESTID               IDType = "restId"               // Graph's default ids
	RESTImmutableEntryID IDType = "restImmutableEntryId" // Graph's immutable ids
	ImmutableEntryID     IDType = "immutableEntryId"     // MAPI immutable entry id, base64
)

// ConvertedID pairs an input id with its translation; TargetID is empty when Exchange could
// not convert it.
type ConvertedID struct {
	SourceID string `json:"sourceId"`
	TargetID string `json:"targetId"`
}

// maxTranslate is translateExchangeIds's limit of ids per request.
const maxTranslate = 1000

// TranslateExchangeIDs converts ids of the mailbox's items and folders from one format to
// another (POST .../translateExchangeIds), 1000 ids a request: the way to keep EWS ids
// stored by an older program working (from EWSID to RESTID or RESTImmutableEntryID).
func (c *Client) TranslateExchangeIDs(ctx context.Context, ids []string, from, to IDType) ([]ConvertedID, error) {
	if from == "" || to == "" {
		return nil, errors.New("graph: TranslateExchangeIDs: the source and target id types must be set")
	}
	var out []ConvertedID
	for len(ids) > 0 {
		n := min(len(ids), maxTranslate)
		var resp struct {
			Value []ConvertedID `json:"value"`
		}
		err := c.sendJSON(ctx, "translate ids", http.MethodPost, c.path("/translateExchangeIds"),
			map[string]any{"inputIds": ids[:n], "sourceIdType": from, "targetIdType": to}, &resp)
		if err != nil {
			return out, err
		}
		out = append(out, resp.Value...)
		ids = ids[n:]
	}
	return out, nil
}
