package mount

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/nested"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/tmpl"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

var (
	// ErrKeyNotFound: the secret has no such secretKey.
	ErrKeyNotFound = errors.New("secret key not found")
	// ErrDecode: the value is not valid for the object's encoding.
	ErrDecode = errors.New("cannot decode secret value")
	// ErrFileConflict: files read from a secret collide with others.
	ErrFileConflict = errors.New("file conflict")
)

// rendered is one file an output made, before its mode and version.
type rendered struct {
	path     string
	contents []byte
}

// outcome is what an object made of its secret: its files, and the value
// templates see under its objectName (absent when it was missing and
// optional).
type outcome struct {
	files   []rendered
	value   any
	present bool
	// held counts the bytes made for templates alone (decoded values of
	// templateOnly objects): they are held like files until the end.
	held int
}

// render makes the files of each of the plan's outputs, in its order:
// first the objects that read secrets, then the templates over their values.
// It stops as soon as the files made exceed limit bytes: a class can make
// many large files of one secret, and they must not all be held at once.
// What it makes is charged to acct before it is made.
func render(ctx context.Context, acct *account.Account, plan *spc.Plan, got responses, limit int) ([][]rendered, error) {
	made := make([][]rendered, len(plan.Outputs))
	values := map[string]any{}
	var sizes []sized
	total, held := 0, 0
	// count adds files to the response's size, and bytes held for
	// templates alone.
	count := func(files []rendered, heldNow int) error {
		held += heldNow
		total += heldNow
		for _, f := range files {
			sz := sizeOf(f)
			sizes = append(sizes, sz)
			total += sz.size
		}
		if total > limit {
			return checkSizes(sizes, held, limit)
		}
		return nil
	}
	for i, out := range plan.Outputs {
		if out.Kind() == spc.KindTemplate {
			continue
		}
		o, err := renderOutput(acct, out, got, plan.Templates)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", out.Label, err)
		}
		made[i] = o.files
		if o.present {
			values[out.Name] = o.value
		}
		if err := count(o.files, o.held); err != nil {
			return nil, err
		}
	}
	for i, out := range plan.Outputs {
		if out.Kind() != spc.KindTemplate {
			continue
		}
		files, err := renderTemplate(ctx, acct, out, values)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", out.Label, err)
		}
		made[i] = files
		if err := count(files, 0); err != nil {
			return nil, err
		}
	}
	return made, nil
}

// renderOutput makes out's files from its secret. A missing secret or key
// of an optional object gives nothing.
// Templates see values only when the plan has templates (withValues).
func renderOutput(acct *account.Account, out *spc.Output, got responses, withValues bool) (outcome, error) {
	s, ok := got[out.Request]
	if !ok {
		// fetchAll leaves out only the requests of optional objects.
		return outcome{}, nil
	}
	o, err := renderSecret(acct, out, s, withValues)
	if out.Optional && missing(err) {
		return outcome{}, nil
	}
	return o, err
}

// missing reports a key or nested value that is not in the secret, which an
// optional object tolerates; anything else still fails it.
func missing(err error) bool {
	return errors.Is(err, ErrKeyNotFound) || errors.Is(err, nested.ErrNotFound) || errors.Is(err, tmpl.ErrMissing)
}

func renderSecret(acct *account.Account, out *spc.Output, s *api.Secret, withValues bool) (outcome, error) {
	if s == nil || s.Data == nil {
		return outcome{}, fmt.Errorf("%w: no data at %s", vault.ErrBadResponse, out.Path)
	}
	switch out.Kind() {
	case spc.KindWhole:
		o := outcome{present: true}
		if withValues {
			o.value = responseValue(s, out.Shape)
		}
		if !out.TemplateOnly {
			b, err := wholeSecret(acct, out, s)
			if errors.Is(err, account.ErrExhausted) {
				return outcome{}, err
			}
			if err != nil {
				return outcome{}, fmt.Errorf("%w: the secret at %s cannot be encoded as JSON", vault.ErrBadResponse, out.Path)
			}
			o.files = []rendered{{out.Name, b}}
		}
		return o, nil
	case spc.KindKeys:
		return keysAsFiles(acct, out, s)
	default:
		v, err := selectValue(acct, out, s.Data)
		if err != nil {
			return outcome{}, err
		}
		o := outcome{value: v, present: true}
		if out.TemplateOnly && !decoded(out) {
			return o, nil
		}
		b, err := fileBytes(acct, out, v, valueName(out))
		if err != nil {
			return outcome{}, err
		}
		o.keep(out, rendered{out.Name, b})
		o.value = templateValue(out, v, b)
		return o, nil
	}
}

// decoded reports an object whose values are decoded from base64 or hex.
func decoded(out *spc.Output) bool {
	return out.Encoding == spc.EncodingBase64 || out.Encoding == spc.EncodingHex
}

// keep adds file f to o, or for a templateOnly object only counts its
// bytes.
func (o *outcome) keep(out *spc.Output, f rendered) {
	if out.TemplateOnly {
		o.held += len(f.contents)
	} else {
		o.files = append(o.files, f)
	}
}

// templateValue is what templates see of a value: as selected, or the
// decoded bytes as text when the object has an encoding.
func templateValue(out *spc.Output, v any, file []byte) any {
	if decoded(out) {
		return string(file)
	}
	return v
}

// responseValue is what templates see of a whole secret: the structure of
// its file, sharing the secret's data rather than encoding and decoding it.
func responseValue(s *api.Secret, shape spc.Shape) any {
	if shape == spc.ShapeData {
		return s.Data
	}
	var warnings any // null, as in the file, when there are none
	if s.Warnings != nil {
		w := make([]any, len(s.Warnings))
		for i, x := range s.Warnings {
			w[i] = x
		}
		warnings = w
	}
	m := map[string]any{
		"request_id":     "",
		"lease_id":       s.LeaseID,
		"lease_duration": json.Number(strconv.Itoa(s.LeaseDuration)),
		"renewable":      s.Renewable,
		"data":           s.Data,
		"warnings":       warnings,
	}
	if s.MountType != "" {
		m["mount_type"] = s.MountType
	}
	// Rare in reads, and small: through JSON, as in the file.
	for key, v := range map[string]any{"auth": s.Auth, "wrap_info": s.WrapInfo} {
		if b, err := json.Marshal(v); err == nil && string(b) != "null" {
			if parsed, err := nested.ParseJSONValue(string(b)); err == nil {
				m[key] = parsed
			}
		}
	}
	return m
}

// renderTemplate executes a template object over the values of the
// class's other objects.
func renderTemplate(ctx context.Context, acct *account.Account, out *spc.Output, values map[string]any) ([]rendered, error) {
	b, err := out.Tmpl.Execute(ctx, acct, values)
	if err != nil {
		if out.Optional && missing(err) {
			return nil, nil
		}
		return nil, err
	}
	return []rendered{{out.Name, b}}, nil
}

// wholeSecret is the file of an object without secretKey. ShapeResponse is
// Vault's whole response as hashicorp/vault-csi-provider writes it, but
// without the request ID, which differs on every read and would make the
// file and its version change when the secret has not.
func wholeSecret(acct *account.Account, out *spc.Output, s *api.Secret) ([]byte, error) {
	if err := acct.Charge(account.MarshalBytes(s.Data)+4096, out.Label); err != nil {
		return nil, err
	}
	if out.Shape == spc.ShapeData {
		return json.Marshal(s.Data)
	}
	c := *s
	c.RequestID = ""
	return json.Marshal(&c)
}

// secretData is where secretKey looks: KV v2's data.data, else data.
func secretData(root map[string]any) map[string]any {
	if inner, ok := root["data"].(map[string]any); ok {
		return inner
	}
	return root
}

// valueAt is the value at the object's secretKey.
func valueAt(root map[string]any, out *spc.Output) (any, error) {
	data := secretData(root)
	v, ok := data[out.Key]
	if !ok {
		return nil, fmt.Errorf("%w: key %s is not in the secret at %s (keys there: %s)",
			ErrKeyNotFound, spc.Quote(out.Key), out.Path, nested.Keys(data))
	}
	return v, nil
}

// selectValue is what an object takes from its secret: the value at
// secretKey, or the data secretKey looks into, and in it the value at
// jmesPath. A string at secretKey is read as JSON for jmesPath: structured
// values are often stored that way in KV.
func selectValue(acct *account.Account, out *spc.Output, root map[string]any) (any, error) {
	var v any = secretData(root)
	if out.Key != "" {
		var err error
		if v, err = valueAt(root, out); err != nil {
			return nil, err
		}
	}
	if out.Expr == nil {
		return v, nil
	}
	if str, ok := v.(string); ok && out.Key != "" {
		if err := acct.Charge(int(account.JSONBytes(str)+account.DecoderCopy(len(str))), out.Label+": reading the value as JSON"); err != nil {
			return nil, err
		}
		parsed, err := nested.ParseJSONValue(str)
		if err != nil {
			return nil, fmt.Errorf("%w: jmesPath needs JSON, and the value of key %s at %s is not: %w", ErrDecode, spc.Quote(out.Key), out.Path, err)
		}
		v = parsed
	}
	r, err := out.Expr.Select(acct, v)
	if err != nil {
		where := out.Path
		if out.Key != "" {
			where = "key " + spc.Quote(out.Key) + " of " + out.Path
		}
		return nil, fmt.Errorf("jmesPath in %s: %w", where, err)
	}
	return r, nil
}

// valueName names an object's value in messages.
func valueName(out *spc.Output) string {
	if out.JMESPath != "" {
		return "the value at jmesPath " + spc.Quote(out.JMESPath)
	}
	return "the value of key " + spc.Quote(out.Key)
}

// fileBytes is a value as a file: strings as they are, anything else as
// JSON, which is what a consumer of a structured value expects; then
// decoded per the object's encoding. what names the value in messages.
func fileBytes(acct *account.Account, out *spc.Output, v any, what string) ([]byte, error) {
	var raw []byte
	if str, ok := v.(string); ok {
		if err := acct.Charge(len(str), out.Label); err != nil {
			return nil, err
		}
		raw = []byte(str)
	} else {
		if err := acct.Charge(account.MarshalBytes(v), out.Label); err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s at %s cannot be encoded as JSON", vault.ErrBadResponse, what, out.Path)
		}
		raw = b
	}
	return decode(acct, out, raw, what)
}

// decode applies the object's encoding: the value in Vault is base64 or hex
// text and the file receives the decoded bytes. Errors never quote the value.
func decode(acct *account.Account, out *spc.Output, raw []byte, what string) ([]byte, error) {
	switch out.Encoding {
	case spc.EncodingBase64, spc.EncodingHex:
		// The decoded bytes, the string the decoder reads, and its buffer.
		if err := acct.Charge(3*len(raw), out.Label); err != nil {
			return nil, err
		}
	}
	switch out.Encoding {
	case spc.EncodingBase64:
		b, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(raw)))
		if err != nil {
			return nil, fmt.Errorf("%w: %s at %s is not valid base64 (encoding: base64)", ErrDecode, what, out.Path)
		}
		return b, nil
	case spc.EncodingHex:
		b, err := hex.DecodeString(string(bytes.TrimSpace(raw)))
		if err != nil {
			return nil, fmt.Errorf("%w: %s at %s is not valid hex (encoding: hex)", ErrDecode, what, out.Path)
		}
		return b, nil
	default:
		return raw, nil
	}
}
