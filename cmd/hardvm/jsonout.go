package main

import (
	"encoding/json"
	"io"
	"reflect"
)

// Every --json output of hardvm follows one convention: keys in snake_case,
// lists always present as lists (an empty list is [], never null), times in
// RFC 3339, digests as "sha256:<hex>". writeJSONOut prints v indented;
// writeJSONLine prints it on one line (for outputs of one object per input).

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(emptyLists(v))
}

func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(emptyLists(v))
}

// emptyLists returns v with every nil slice it reaches (through pointers,
// interfaces, struct fields, slices and maps) made an empty one, so that it
// encodes as [] rather than null. Byte slices stay as they are (they encode
// as strings). It may set nil slices of the values v points to.
func emptyLists(v any) any {
	if v == nil {
		return nil
	}
	p := reflect.New(reflect.TypeOf(v))
	p.Elem().Set(reflect.ValueOf(v))
	fillLists(p.Elem(), 0)
	return p.Elem().Interface()
}

func fillLists(v reflect.Value, depth int) {
	if depth > 64 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fillLists(v.Elem(), depth+1)
		}
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return
		}
		inner := v.Elem()
		cp := reflect.New(inner.Type()).Elem()
		cp.Set(inner)
		fillLists(cp, depth+1)
		v.Set(cp)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fillLists(f, depth+1)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		if v.IsNil() {
			if v.CanSet() {
				v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			}
			return
		}
		for i := range v.Len() {
			fillLists(v.Index(i), depth+1)
		}
	case reflect.Array:
		if v.CanSet() {
			for i := range v.Len() {
				fillLists(v.Index(i), depth+1)
			}
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			cp := reflect.New(iter.Value().Type()).Elem()
			cp.Set(iter.Value())
			fillLists(cp, depth+1)
			v.SetMapIndex(iter.Key(), cp)
		}
	}
}
