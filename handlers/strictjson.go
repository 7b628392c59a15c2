package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// invalidBody is a request body refused for a reason the caller can fix;
// its text is the error_description.
type invalidBody string

func (e invalidBody) Error() string { return string(e) }

// decodeStrict decodes body, one JSON object, into v, a pointer to a struct.
// encoding/json alone is lax where the admin API must not be: it matches
// keys without regard to case and lets the last of two equal keys win, so
// {"can_introspect":false,"Can_Introspect":true} would store true; it drops
// unknown fields, so a setting the server does not know (a misspelt one,
// or one of a newer API) would answer 201 and do nothing; and it replaces
// invalid UTF-8 and lone UTF-16 surrogates with U+FFFD. Here each of those
// is refused with an [invalidBody] that names the field. Syntax and type
// errors come back as encoding/json's own (*json.SyntaxError,
// *json.UnmarshalTypeError, io.EOF for an empty body, io.ErrUnexpectedEOF).
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return invalidBody("the body is not valid UTF-8")
	}
	fields := jsonFields(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return invalidBody("the body must be a JSON object")
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string) // an object's tokens alternate key, value
		if !fields[key] {
			return unknownField(key, fields)
		}
		if seen[key] {
			return invalidBody(fmt.Sprintf("%s: the field appears more than once", key))
		}
		seen[key] = true
		if err := walkValue(dec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidBody("unexpected data after the JSON object")
	}
	if loneSurrogate(body) {
		return invalidBody("the body holds a \\u escape of half a UTF-16 surrogate pair, which is no character")
	}
	dec = json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // checked above already, exactly
	return dec.Decode(v)
}

// walkValue reads one JSON value from dec, refusing duplicate keys in any
// object inside it.
func walkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := make(map[string]bool)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string)
			if seen[key] {
				return invalidBody(fmt.Sprintf("%s: the field appears more than once", key))
			}
			seen[key] = true
			if err := walkValue(dec); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// jsonFields returns the keys encoding/json reads into struct type t: the
// json tag's name, or else the field's name.
func jsonFields(t reflect.Type) map[string]bool {
	fields := make(map[string]bool)
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
			continue
		case name == "":
			name = f.Name
		}
		fields[name] = true
	}
	return fields
}

// unknownField refuses key, pointing at the field it differs from only in
// case, if any.
func unknownField(key string, fields map[string]bool) error {
	for f := range fields {
		if strings.EqualFold(f, key) {
			return invalidBody(fmt.Sprintf("%q: unknown field (field names are case-sensitive: %s)", key, f))
		}
	}
	return invalidBody(fmt.Sprintf("%q: unknown field", key))
}

// loneSurrogate reports whether JSON text holds a \u escape of a UTF-16
// surrogate without its other half. It expects text that parsed, so every
// backslash is inside a string.
func loneSurrogate(text []byte) bool {
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' {
			continue
		}
		if i+1 < len(text) && text[i+1] != 'u' {
			i++ // \\, \" and the like
			continue
		}
		r, ok := hex4(text[i+2:])
		if !ok {
			return false
		}
		i += 5
		switch {
		case 0xdc00 <= r && r <= 0xdfff:
			return true // a low half first
		case 0xd800 <= r && r <= 0xdbff:
			if i+2 >= len(text) || text[i+1] != '\\' || text[i+2] != 'u' {
				return true
			}
			if low, ok := hex4(text[i+3:]); !ok || low < 0xdc00 || low > 0xdfff {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
