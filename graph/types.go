package graph

import (
	"strings"
	"time"
)

// Well-known folder names: Graph accepts them wherever a folder id goes.
const (
	Inbox                     = "inbox"
	Drafts                    = "drafts"
	SentItems                 = "sentitems"
	DeletedItems              = "deleteditems"
	JunkEmail                 = "junkemail"
	Archive                   = "archive"
	Outbox                    = "outbox"
	MsgFolderRoot             = "msgfolderroot"
	RecoverableItemsDeletions = "recoverableitemsdeletions"
)

// EmailAddress is a name and an SMTP address.
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// String renders "Name <address>", or the address alone.
func (a EmailAddress) String() string {
	if a.Name == "" || a.Name == a.Address {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

// Recipient is Graph's recipient: an email address.
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// String renders the address as [EmailAddress.String] does.
func (r Recipient) String() string { return r.EmailAddress.String() }

// Recipients makes recipients of plain addresses ("bob@contoso.com" or "Bob <bob@contoso.com>").
func Recipients(addrs ...string) []Recipient {
	out := make([]Recipient, 0, len(addrs))
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		r := Recipient{EmailAddress: EmailAddress{Address: a}}
		if i := strings.LastIndexByte(a, '<'); i >= 0 && strings.HasSuffix(a, ">") {
			r.EmailAddress = EmailAddress{Name: strings.Trim(strings.TrimSpace(a[:i]), `"`), Address: a[i+1 : len(a)-1]}
		}
		out = append(out, r)
	}
	return out
}

// ItemBody is a message body: ContentType "text" or "html".
type ItemBody struct {
	ContentType string `json:"contentType,omitempty"`
	Content     string `json:"content"`
}

// Flag statuses of [FollowupFlag].
const (
	NotFlagged = "notFlagged"
	Flagged    = "flagged"
	Complete   = "complete"
)

// FollowupFlag is a message's follow-up flag.
type FollowupFlag struct {
	FlagStatus string `json:"flagStatus,omitempty"` // NotFlagged, Flagged or Complete
}

// Removed marks a message or folder a delta round reports as gone.
type Removed struct {
	Reason string `json:"reason"` // "deleted" (also for moved out)
}

// Message is a mail message with the fields people use. Fields that were not asked for
// with $select stay zero. In a delta round, a message with Removed set is gone and only ID
// is filled.
type Message struct {
	ID                string       `json:"id"`
	ETag              string       `json:"@odata.etag,omitempty"`
	Subject           string       `json:"subject,omitempty"`
	From              Recipient    `json:"from,omitzero"`
	Sender            Recipient    `json:"sender,omitzero"`
	To                []Recipient  `json:"toRecipients,omitempty"`
	Cc                []Recipient  `json:"ccRecipients,omitempty"`
	Bcc               []Recipient  `json:"bccRecipients,omitempty"`
	ReplyTo           []Recipient  `json:"replyTo,omitempty"`
	ReceivedDateTime  time.Time    `json:"receivedDateTime,omitzero"`
	SentDateTime      time.Time    `json:"sentDateTime,omitzero"`
	IsRead            bool         `json:"isRead,omitempty"`
	IsDraft           bool         `json:"isDraft,omitempty"`
	HasAttachments    bool         `json:"hasAttachments,omitempty"`
	Importance        string       `json:"importance,omitempty"`
	BodyPreview       string       `json:"bodyPreview,omitempty"`
	Body              ItemBody     `json:"body,omitzero"`
	InternetMessageID string       `json:"internetMessageId,omitempty"`
	ParentFolderID    string       `json:"parentFolderId,omitempty"`
	ConversationID    string       `json:"conversationId,omitempty"`
	Categories        []string     `json:"categories,omitempty"`
	Flag              FollowupFlag `json:"flag,omitzero"`
	WebLink           string       `json:"webLink,omitempty"`
	Removed           *Removed     `json:"@removed,omitempty"`
}

// DefaultSelect is the $select of message lists when none is given: the fields of
// [Message] but the body.
var DefaultSelect = []string{"id", "subject", "from", "sender", "toRecipients", "ccRecipients", "receivedDateTime",
	"sentDateTime", "isRead", "isDraft", "hasAttachments", "importance", "bodyPreview", "internetMessageId",
	"parentFolderId", "conversationId", "flag"}

// Folder is a mail folder.
type Folder struct {
	ID               string   `json:"id"`
	DisplayName      string   `json:"displayName"`
	ParentFolderID   string   `json:"parentFolderId,omitempty"`
	ChildFolderCount int      `json:"childFolderCount"`
	UnreadItemCount  int      `json:"unreadItemCount"`
	TotalItemCount   int      `json:"totalItemCount"`
	IsHidden         bool     `json:"isHidden,omitempty"`
	Removed          *Removed `json:"@removed,omitempty"`
}

// Attachment describes an attachment (without its content; see
// [Client.AttachmentContent]).
type Attachment struct {
	ID                   string    `json:"id"`
	ODataType            string    `json:"@odata.type,omitempty"` // "#microsoft.graph.fileAttachment", itemAttachment, referenceAttachment
	Name                 string    `json:"name"`
	ContentType          string    `json:"contentType,omitempty"`
	Size                 int64     `json:"size"`
	IsInline             bool      `json:"isInline,omitempty"`
	ContentID            string    `json:"contentId,omitempty"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime,omitzero"`
}
