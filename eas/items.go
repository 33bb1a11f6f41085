package eas

import (
	"strconv"
	"strings"
	"time"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// Item classes, as [FolderType.Class] names them and as Sync marks items.
const (
	ClassEmail    = "Email"
	ClassContacts = "Contacts"
	ClassCalendar = "Calendar"
	ClassTasks    = "Tasks"
	ClassNotes    = "Notes"
)

// Item is one item a Sync response adds or changes. Class says which typed
// field is set: Email for "Email", Contact for "Contacts", Event for
// "Calendar", Task for "Tasks"; a note ("Notes") or a class this package does
// not know has only Data. In a Change only the properties that changed are
// set.
type Item struct {
	ServerID string `json:"server_id"`
	// Class is the item's class: the Class element of the Add or Change when
	// the server sent one, else the namespace of its properties, else the
	// class of the folder as the last FolderSync described it. It is empty
	// when none of these says.
	Class   string   `json:"class,omitempty"`
	Email   *Email   `json:"email,omitempty"`
	Contact *Contact `json:"contact,omitempty"`
	Event   *Event   `json:"event,omitempty"`
	Task    *Task    `json:"task,omitempty"`
	// Data is the ApplicationData element as received, with every property,
	// including those the typed fields leave out. It may be nil.
	Data *wbxml.Node `json:"-"`
}

// Contact is a contact as Sync returns it ([MS-ASCNTC]).
type Contact struct {
	FileAs              string    `json:"file_as,omitempty"`
	FirstName           string    `json:"first_name,omitempty"`
	MiddleName          string    `json:"middle_name,omitempty"`
	LastName            string    `json:"last_name,omitempty"`
	CompanyName         string    `json:"company_name,omitempty"`
	Department          string    `json:"department,omitempty"`
	JobTitle            string    `json:"job_title,omitempty"`
	Email1Address       string    `json:"email1_address,omitempty"`
	Email2Address       string    `json:"email2_address,omitempty"`
	Email3Address       string    `json:"email3_address,omitempty"`
	BusinessPhoneNumber string    `json:"business_phone_number,omitempty"`
	MobilePhoneNumber   string    `json:"mobile_phone_number,omitempty"`
	HomePhoneNumber     string    `json:"home_phone_number,omitempty"`
	Birthday            time.Time `json:"birthday,omitzero"`
	Categories          []string  `json:"categories,omitempty"`
	Body                Body      `json:"body,omitzero"`
}

// Event is a calendar item as Sync returns it ([MS-ASCAL]). Recurrences,
// exceptions and attendees' responses are left in [Item.Data].
type Event struct {
	UID            string     `json:"uid,omitempty"`
	Subject        string     `json:"subject,omitempty"`
	Location       string     `json:"location,omitempty"`
	StartTime      time.Time  `json:"start_time,omitzero"`
	EndTime        time.Time  `json:"end_time,omitzero"`
	AllDayEvent    bool       `json:"all_day_event,omitempty"`
	OrganizerName  string     `json:"organizer_name,omitempty"`
	OrganizerEmail string     `json:"organizer_email,omitempty"`
	Attendees      []Attendee `json:"attendees,omitempty"`
	BusyStatus     int        `json:"busy_status,omitempty"` // 0 free, 1 tentative, 2 busy, 3 out of office, 4 working elsewhere
	MeetingStatus  int        `json:"meeting_status,omitempty"`
	Sensitivity    int        `json:"sensitivity,omitempty"`
	Categories     []string   `json:"categories,omitempty"`
	Body           Body       `json:"body,omitzero"`
}

// Attendee is one attendee of an [Event].
type Attendee struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	Type  int    `json:"type,omitempty"` // 1 required, 2 optional, 3 resource
}

// Task is a task as Sync returns it ([MS-ASTASK]).
type Task struct {
	Subject       string    `json:"subject,omitempty"`
	StartDate     time.Time `json:"start_date,omitzero"`
	DueDate       time.Time `json:"due_date,omitzero"`
	Complete      bool      `json:"complete,omitempty"`
	DateCompleted time.Time `json:"date_completed,omitzero"`
	Importance    int       `json:"importance,omitempty"`
	Categories    []string  `json:"categories,omitempty"`
	Body          Body      `json:"body,omitzero"`
}

// classOf maps a property's namespace to the item class it belongs to.
func classOf(ns string) string {
	switch ns {
	case "Email", "Email2":
		return ClassEmail
	case "Contacts", "Contacts2":
		return ClassContacts
	case "Calendar":
		return ClassCalendar
	case "Tasks":
		return ClassTasks
	case "Notes":
		return ClassNotes
	}
	return ""
}

// parseItem reads one Add or Change element of a Sync response; fallback
// is the folder's class, used when the element says nothing of its own.
func parseItem(e *wbxml.Node, fallback string) Item {
	data := child(e, "ApplicationData")
	it := Item{ServerID: childText(e, "ServerId"), Class: childText(e, "Class"), Data: data}
	if it.Class == "" {
		for _, p := range children(data) {
			if c := classOf(p.Namespace()); c != "" {
				it.Class = c
				break
			}
		}
	}
	if it.Class == "" {
		it.Class = fallback
	}
	switch it.Class {
	case ClassEmail:
		m := parseEmail(it.ServerID, data)
		it.Email = &m
	case ClassContacts:
		it.Contact = parseContact(data)
	case ClassCalendar:
		it.Event = parseEvent(data)
	case ClassTasks:
		it.Task = parseTask(data)
	}
	return it
}

// parseBody reads an AirSyncBase Body element.
func parseBody(p *wbxml.Node) Body {
	t, _ := strconv.Atoi(childText(p, "Type"))
	size, _ := strconv.ParseInt(childText(p, "EstimatedDataSize"), 10, 64)
	return Body{
		Type:              BodyType(t),
		EstimatedDataSize: size,
		Truncated:         childText(p, "Truncated") == "1",
		Data:              childText(p, "Data"),
		Preview:           childText(p, "Preview"),
	}
}

// anyBody reads a Body property: AirSyncBase's element, or the plain text
// body of protocol 2.5 in the class's own namespace.
func anyBody(p *wbxml.Node) Body {
	if p.Namespace() == "AirSyncBase" {
		return parseBody(p)
	}
	return Body{Type: BodyPlainText, Data: text(p)}
}

// parseTime reads the date forms ActiveSync uses: extended ISO 8601
// ("2026-12-01T10:00:00.000Z", Email, Contacts, Tasks) and the basic form
// ("20261201T100000Z", Calendar). A value it cannot read is the zero time.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "20060102T150405Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func categories(p *wbxml.Node) []string {
	var out []string
	for _, c := range all(p, "Category") {
		out = append(out, text(c))
	}
	return out
}

func parseContact(n *wbxml.Node) *Contact {
	c := &Contact{}
	for _, p := range children(n) {
		if p.Name == "Body" {
			c.Body = anyBody(p)
			continue
		}
		if classOf(p.Namespace()) != ClassContacts {
			continue
		}
		v := text(p)
		switch p.Name {
		case "FileAs":
			c.FileAs = v
		case "FirstName":
			c.FirstName = v
		case "MiddleName":
			c.MiddleName = v
		case "LastName":
			c.LastName = v
		case "CompanyName":
			c.CompanyName = v
		case "Department":
			c.Department = v
		case "JobTitle":
			c.JobTitle = v
		case "Email1Address":
			c.Email1Address = v
		case "Email2Address":
			c.Email2Address = v
		case "Email3Address":
			c.Email3Address = v
		case "BusinessPhoneNumber":
			c.BusinessPhoneNumber = v
		case "MobilePhoneNumber":
			c.MobilePhoneNumber = v
		case "HomePhoneNumber":
			c.HomePhoneNumber = v
		case "Birthday":
			c.Birthday = parseTime(v)
		case "Categories":
			c.Categories = categories(p)
		}
	}
	return c
}

func parseEvent(n *wbxml.Node) *Event {
	e := &Event{}
	for _, p := range children(n) {
		if p.Name == "Body" {
			e.Body = anyBody(p)
			continue
		}
		if p.Namespace() != "Calendar" {
			continue
		}
		v := text(p)
		switch p.Name {
		case "UID":
			e.UID = v
		case "Subject":
			e.Subject = v
		case "Location":
			e.Location = v
		case "StartTime":
			e.StartTime = parseTime(v)
		case "EndTime":
			e.EndTime = parseTime(v)
		case "AllDayEvent":
			e.AllDayEvent = v == "1"
		case "OrganizerName":
			e.OrganizerName = v
		case "OrganizerEmail":
			e.OrganizerEmail = v
		case "BusyStatus":
			e.BusyStatus, _ = strconv.Atoi(v)
		case "MeetingStatus":
			e.MeetingStatus, _ = strconv.Atoi(v)
		case "Sensitivity":
			e.Sensitivity, _ = strconv.Atoi(v)
		case "Categories":
			e.Categories = categories(p)
		case "Attendees":
			for _, a := range all(p, "Attendee") {
				typ, _ := strconv.Atoi(childText(a, "AttendeeType"))
				e.Attendees = append(e.Attendees, Attendee{Email: childText(a, "Email"), Name: childText(a, "Name"), Type: typ})
			}
		}
	}
	return e
}

func parseTask(n *wbxml.Node) *Task {
	t := &Task{}
	for _, p := range children(n) {
		if p.Name == "Body" {
			t.Body = anyBody(p)
			continue
		}
		if p.Namespace() != "Tasks" {
			continue
		}
		v := text(p)
		switch p.Name {
		case "Subject":
			t.Subject = v
		case "StartDate":
			t.StartDate = parseTime(v)
		case "DueDate":
			t.DueDate = parseTime(v)
		case "Complete":
			t.Complete = v == "1"
		case "DateCompleted":
			t.DateCompleted = parseTime(v)
		case "Importance":
			t.Importance, _ = strconv.Atoi(v)
		case "Categories":
			t.Categories = categories(p)
		}
	}
	return t
}
