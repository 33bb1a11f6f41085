package wbxml

import (
	"bytes"
	"os"
	"testing"
)

type folder struct {
	ServerID    string `wbxml:"ServerId"`
	ParentID    string `wbxml:"ParentId"`
	DisplayName string `wbxml:"DisplayName"`
	Type        int    `wbxml:"Type"`
}

type folderSyncResponse struct {
	Status  int    `wbxml:"Status"`
	SyncKey string `wbxml:"SyncKey"`
	Changes *struct {
		Count int      `wbxml:"Count"`
		Add   []folder `wbxml:"Add"`
		Raw   *Node    `wbxml:"Delete"`
	} `wbxml:"Changes"`
	Ignored string
}

func TestStructDecodeVector(t *testing.T) {
	b, err := os.ReadFile("testdata/vectors/libwbxml_foldersync_response.wbxml")
	if err != nil {
		t.Fatal(err)
	}
	var r folderSyncResponse
	if err := UnmarshalStruct(b, &r); err != nil {
		t.Fatal(err)
	}
	root, _ := Unmarshal(b)
	adds := root.Child("Changes").All("Add")
	if r.Changes == nil || len(r.Changes.Add) != len(adds) || len(adds) == 0 {
		t.Fatalf("decoded %+v", r)
	}
	if r.Status != 1 || r.SyncKey != root.ChildText("SyncKey") || r.Changes.Add[0].DisplayName != adds[0].ChildText("DisplayName") {
		t.Errorf("decoded %+v", r)
	}
	if r.Changes.Count != len(adds) {
		t.Errorf("Count %d, %d adds", r.Changes.Count, len(adds))
	}
}

type syncRequest struct {
	Collections struct {
		Collection []struct {
			SyncKey        string `wbxml:"SyncKey"`
			CollectionID   string `wbxml:"CollectionId"`
			DeletesAsMoves bool   `wbxml:"DeletesAsMoves"`
			GetChanges     bool   `wbxml:"GetChanges"`
			WindowSize     int    `wbxml:"WindowSize,omitempty"`
			Options        *struct {
				FilterType     int `wbxml:"FilterType"`
				BodyPreference struct {
					Type           int    `wbxml:"AirSyncBase:Type"`
					TruncationSize uint32 `wbxml:"AirSyncBase:TruncationSize,omitempty"`
				} `wbxml:"AirSyncBase:BodyPreference"`
			} `wbxml:"Options"`
		} `wbxml:"Collection"`
	} `wbxml:"Collections"`
}

func TestStructEncode(t *testing.T) {
	var req syncRequest
	req.Collections.Collection = make([]struct {
		SyncKey        string `wbxml:"SyncKey"`
		CollectionID   string `wbxml:"CollectionId"`
		DeletesAsMoves bool   `wbxml:"DeletesAsMoves"`
		GetChanges     bool   `wbxml:"GetChanges"`
		WindowSize     int    `wbxml:"WindowSize,omitempty"`
		Options        *struct {
			FilterType     int `wbxml:"FilterType"`
			BodyPreference struct {
				Type           int    `wbxml:"AirSyncBase:Type"`
				TruncationSize uint32 `wbxml:"AirSyncBase:TruncationSize,omitempty"`
			} `wbxml:"AirSyncBase:BodyPreference"`
		} `wbxml:"Options"`
	}, 1)
	c := &req.Collections.Collection[0]
	c.SyncKey, c.CollectionID, c.GetChanges, c.WindowSize = "1", "5", true, 25
	c.Options = &struct {
		FilterType     int `wbxml:"FilterType"`
		BodyPreference struct {
			Type           int    `wbxml:"AirSyncBase:Type"`
			TruncationSize uint32 `wbxml:"AirSyncBase:TruncationSize,omitempty"`
		} `wbxml:"AirSyncBase:BodyPreference"`
	}{FilterType: 3}
	c.Options.BodyPreference.Type = 2
	c.Options.BodyPreference.TruncationSize = 5120
	got, err := MarshalStruct("AirSync", "Sync", &req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Marshal(Elem("AirSync", "Sync", Elem("AirSync", "Collections", Elem("AirSync", "Collection",
		Text("AirSync", "SyncKey", "1"),
		Text("AirSync", "CollectionId", "5"),
		Elem("AirSync", "GetChanges"),
		Text("AirSync", "WindowSize", "25"),
		Elem("AirSync", "Options",
			Text("AirSync", "FilterType", "3"),
			Elem("AirSyncBase", "BodyPreference",
				Text("AirSyncBase", "Type", "2"),
				Text("AirSyncBase", "TruncationSize", "5120")))))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		x1, _ := ToXML(got)
		x2, _ := ToXML(want)
		t.Fatalf("got\n%s\nwant\n%s", x1, x2)
	}
	var back syncRequest
	if err := UnmarshalStruct(got, &back); err != nil {
		t.Fatal(err)
	}
	bc := back.Collections.Collection[0]
	if bc.SyncKey != "1" || !bc.GetChanges || bc.DeletesAsMoves || bc.Options.BodyPreference.TruncationSize != 5120 {
		t.Errorf("round trip: %+v", bc)
	}
}

func TestStructErrors(t *testing.T) {
	var r folderSyncResponse
	b, _ := Marshal(Elem("FolderHierarchy", "FolderSync", Text("FolderHierarchy", "Status", "one")))
	if err := UnmarshalStruct(b, &r); !IsKind(err, KindValue) {
		t.Errorf("bad number: %v", err)
	}
	if err := UnmarshalStruct(b, r); !IsKind(err, KindValue) {
		t.Errorf("non-pointer: %v", err)
	}
	type bad struct {
		X float64 `wbxml:"Status"`
	}
	if _, err := MarshalStruct("FolderHierarchy", "FolderSync", bad{}); !IsKind(err, KindValue) {
		t.Errorf("float field: %v", err)
	}
	type unknown struct {
		X string `wbxml:"Nope"`
	}
	if _, err := MarshalStruct("FolderHierarchy", "FolderSync", unknown{}); !IsKind(err, KindUnknownName) {
		t.Errorf("unknown element: %v", err)
	}
	if _, err := MarshalStruct("FolderHierarchy", "Nope", struct{}{}); !IsKind(err, KindUnknownName) {
		t.Errorf("unknown root: %v", err)
	}
	if _, err := MarshalStruct("FolderHierarchy", "FolderSync", 3); !IsKind(err, KindValue) {
		t.Errorf("non-struct: %v", err)
	}
}
