package wbxml

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// NodeFromStruct returns the element ns:name built from the struct (or
// pointer to struct) v.
func NodeFromStruct(ns, name string, v any) (*Node, error) {
	n := Elem(ns, name)
	if _, ok := n.Tag(); !ok {
		return nil, &Error{Kind: KindUnknownName, Detail: fmt.Sprintf("no element %q in namespace %q", name, ns)}
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, &Error{Kind: KindValue, Detail: "nil pointer"}
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, &Error{Kind: KindValue, Detail: fmt.Sprintf("%s is not a struct", rv.Type())}
	}
	if err := fillNode(n, rv); err != nil {
		return nil, err
	}
	return n, nil
}

// MarshalStruct encodes the struct v as the document whose root is ns:name.
func MarshalStruct(ns, name string, v any) ([]byte, error) {
	n, err := NodeFromStruct(ns, name, v)
	if err != nil {
		return nil, err
	}
	return Marshal(n)
}

// UnmarshalStruct decodes the document b into the struct v points to. The
// root element's name is not checked; compare it with [Unmarshal] and
// [Node.DecodeStruct] when it matters.
func UnmarshalStruct(b []byte, v any) error {
	n, err := Unmarshal(b)
	if err != nil {
		return err
	}
	return n.DecodeStruct(v)
}

// DecodeStruct fills the struct v points to from n's children. Children
// without a matching field are ignored; a text that does not parse as the
// field's number type is a KindValue error.
func (n *Node) DecodeStruct(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return &Error{Kind: KindValue, Detail: fmt.Sprintf("DecodeStruct needs a non-nil pointer to a struct, not %T", v)}
	}
	return decodeStruct(n, rv.Elem())
}

type fieldTag struct {
	ns, name  string
	omitEmpty bool
}

func parseFieldTag(s string) (fieldTag, bool) {
	if s == "" || s == "-" {
		return fieldTag{}, false
	}
	var ft fieldTag
	name, opts, _ := strings.Cut(s, ",")
	if ns, local, ok := strings.Cut(name, ":"); ok {
		ft.ns, ft.name = ns, local
	} else {
		ft.name = name
	}
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" {
			ft.omitEmpty = true
		}
	}
	return ft, true
}

var (
	nodePtrType = reflect.TypeFor[*Node]()
	bytesType   = reflect.TypeFor[[]byte]()
)

func fillNode(n *Node, rv reflect.Value) error {
	rt := rv.Type()
	for i := range rt.NumField() {
		sf := rt.Field(i)
		ft, ok := parseFieldTag(sf.Tag.Get("wbxml"))
		if !ok || !sf.IsExported() {
			continue
		}
		ns := ft.ns
		if ns == "" {
			ns = n.Namespace()
		}
		fv := rv.Field(i)
		if fv.Kind() == reflect.Slice && fv.Type() != bytesType {
			for j := range fv.Len() {
				if err := appendField(n, ns, ft.name, fv.Index(j), false, sf.Name); err != nil {
					return err
				}
			}
			continue
		}
		if err := appendField(n, ns, ft.name, fv, ft.omitEmpty, sf.Name); err != nil {
			return err
		}
	}
	return nil
}

func appendField(parent *Node, ns, name string, fv reflect.Value, omitEmpty bool, field string) error {
	if omitEmpty && fv.IsZero() {
		return nil
	}
	if fv.Type() == nodePtrType {
		if !fv.IsNil() {
			parent.Children = append(parent.Children, fv.Interface().(*Node))
		}
		return nil
	}
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return nil
		}
		fv = fv.Elem()
	}
	c := Elem(ns, name)
	if _, ok := c.Tag(); !ok {
		return &Error{Kind: KindUnknownName, Detail: fmt.Sprintf("field %s: no element %q in namespace %q", field, name, ns)}
	}
	switch {
	case fv.Type() == bytesType:
		c.Opaque = append([]byte{}, fv.Bytes()...)
	case fv.Kind() == reflect.String:
		c.Text = fv.String()
	case fv.Kind() == reflect.Bool:
		if !fv.Bool() {
			return nil
		}
	case fv.CanInt():
		c.Text = strconv.FormatInt(fv.Int(), 10)
	case fv.CanUint():
		c.Text = strconv.FormatUint(fv.Uint(), 10)
	case fv.Kind() == reflect.Struct:
		if err := fillNode(c, fv); err != nil {
			return err
		}
	default:
		return &Error{Kind: KindValue, Detail: fmt.Sprintf("field %s: unsupported type %s", field, fv.Type())}
	}
	parent.Children = append(parent.Children, c)
	return nil
}

func (n *Node) matchesField(ft fieldTag) bool {
	if n.Name != ft.name {
		return false
	}
	return ft.ns == "" || strings.EqualFold(strings.TrimSuffix(ft.ns, ":"), n.Namespace())
}

func decodeStruct(n *Node, rv reflect.Value) error {
	rt := rv.Type()
	for i := range rt.NumField() {
		sf := rt.Field(i)
		ft, ok := parseFieldTag(sf.Tag.Get("wbxml"))
		if !ok || !sf.IsExported() {
			continue
		}
		fv := rv.Field(i)
		slice := fv.Kind() == reflect.Slice && fv.Type() != bytesType
		for _, c := range n.Children {
			if !c.matchesField(ft) {
				continue
			}
			if !slice {
				if err := setField(c, fv, sf.Name); err != nil {
					return err
				}
				break
			}
			item := reflect.New(fv.Type().Elem()).Elem()
			if err := setField(c, item, sf.Name); err != nil {
				return err
			}
			fv.Set(reflect.Append(fv, item))
		}
	}
	return nil
}

func setField(c *Node, fv reflect.Value, field string) error {
	if fv.Type() == nodePtrType {
		fv.Set(reflect.ValueOf(c))
		return nil
	}
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			fv.Set(reflect.New(fv.Type().Elem()))
		}
		fv = fv.Elem()
	}
	text := c.Text
	if c.Opaque != nil {
		text = string(c.Opaque)
	}
	bad := func(err error) error {
		return &Error{Kind: KindValue, Detail: fmt.Sprintf("field %s: %s %q: %v", field, c.Name, text, err), Err: err}
	}
	switch {
	case fv.Type() == bytesType:
		if c.Opaque != nil {
			fv.SetBytes(append([]byte{}, c.Opaque...))
		} else {
			fv.SetBytes([]byte(c.Text))
		}
	case fv.Kind() == reflect.String:
		fv.SetString(text)
	case fv.Kind() == reflect.Bool:
		fv.SetBool(true)
	case fv.CanInt():
		v, err := strconv.ParseInt(strings.TrimSpace(text), 10, fv.Type().Bits())
		if err != nil {
			return bad(err)
		}
		fv.SetInt(v)
	case fv.CanUint():
		v, err := strconv.ParseUint(strings.TrimSpace(text), 10, fv.Type().Bits())
		if err != nil {
			return bad(err)
		}
		fv.SetUint(v)
	case fv.Kind() == reflect.Struct:
		return decodeStruct(c, fv)
	default:
		return &Error{Kind: KindValue, Detail: fmt.Sprintf("field %s: unsupported type %s", field, fv.Type())}
	}
	return nil
}
