package tmpl

import (
	"encoding/json"
	"reflect"
	"unsafe"
)

// copyData deep-copies maps and slices so that a template's set, unset or
// merge cannot change (or race on) the caller's data. A map or slice
// reached twice (the same secret under several objects) is copied once, so
// the copy is no larger than the distinct data.
func copyData(v any) any {
	c := copier{maps: map[unsafe.Pointer]map[string]any{}, slices: map[sliceID][]any{}}
	return c.copy(v)
}

type sliceID struct {
	first unsafe.Pointer
	n     int
}

type copier struct {
	maps   map[unsafe.Pointer]map[string]any
	slices map[sliceID][]any
}

func (c *copier) copy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		id := reflect.ValueOf(v).UnsafePointer()
		if m, ok := c.maps[id]; ok {
			return m
		}
		m := make(map[string]any, len(v))
		c.maps[id] = m
		for k, e := range v {
			m[k] = c.copy(e)
		}
		return m
	case []any:
		if len(v) == 0 {
			return v
		}
		id := sliceID{unsafe.Pointer(&v[0]), len(v)}
		if s, ok := c.slices[id]; ok {
			return s
		}
		s := make([]any, len(v))
		c.slices[id] = s
		for i, e := range v {
			s[i] = c.copy(e)
		}
		return s
	case nil, string, json.Number, bool, float64, int, int64:
		return v
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.IsNil() {
			return v
		}
		m := reflect.MakeMapWithSize(rv.Type(), rv.Len())
		it := rv.MapRange()
		for it.Next() {
			m.SetMapIndex(it.Key(), c.copyValue(it.Value(), rv.Type().Elem()))
		}
		return m.Interface()
	case reflect.Slice:
		if rv.IsNil() {
			return v
		}
		s := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
		for i := range rv.Len() {
			s.Index(i).Set(c.copyValue(rv.Index(i), rv.Type().Elem()))
		}
		return s.Interface()
	}
	return v
}

func (c *copier) copyValue(v reflect.Value, t reflect.Type) reflect.Value {
	if !v.IsValid() || !v.CanInterface() {
		return reflect.Zero(t)
	}
	cv := reflect.ValueOf(c.copy(v.Interface()))
	if !cv.IsValid() {
		return reflect.Zero(t)
	}
	return cv.Convert(t)
}
