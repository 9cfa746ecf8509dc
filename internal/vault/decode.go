package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"
)

// decodeSecret decodes a Vault response body as api.ParseSecret does
// (numbers as json.Number, a body without any of the secret's fields taken
// whole as its data, an "errors" list refused), without the three copies
// of the body that ParseSecret and its decoder make: the values are built
// straight from raw, which the caller has already charged.
func decodeSecret(raw []byte) (*api.Secret, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := &decoder{b: raw}
	d.ws()
	if d.literal("null") {
		return &api.Secret{}, nil
	}
	if !d.next('{') {
		return nil, d.fail("a response must be a JSON object")
	}
	var s api.Secret
	err := d.members(func(key string, start int) error {
		if !strings.EqualFold(key, "data") {
			// The other fields are small: encoding/json fills them from
			// their own bytes, with its own rules.
			if err := d.skip(); err != nil {
				return err
			}
			return secretField(&s, key, raw[start:d.i])
		}
		v, err := d.value()
		if err != nil {
			return err
		}
		switch m := v.(type) {
		case nil:
			s.Data = nil
		case map[string]any:
			s.Data = m
		default:
			return d.fail("data is not an object")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !isZero(&s) {
		return &s, nil
	}
	// No field of a secret: the whole body is its data (raw JSON answers).
	d = &decoder{b: raw}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	data := v.(map[string]any)
	errs, hasErrors := data["errors"]
	switch {
	case hasErrors && len(data) == 1:
		return nil, nil
	case hasErrors:
		b, _ := json.Marshal(errs)
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, errors.New("the response's errors are not a list of strings")
		}
		return nil, errors.New(strings.Join(list, " "))
	case len(data) > 0:
		s.Data = data
	}
	return &s, nil
}

// secretField sets the field of s named key (matched as encoding/json
// matches a struct's fields) from its JSON; unknown keys are ignored.
func secretField(s *api.Secret, key string, raw []byte) error {
	var dst any
	for _, f := range []struct {
		name string
		ptr  any
	}{
		{"request_id", &s.RequestID}, {"lease_id", &s.LeaseID}, {"lease_duration", &s.LeaseDuration},
		{"renewable", &s.Renewable}, {"warnings", &s.Warnings}, {"auth", &s.Auth},
		{"wrap_info", &s.WrapInfo}, {"mount_type", &s.MountType},
	} {
		if strings.EqualFold(key, f.name) {
			dst = f.ptr
			break
		}
	}
	if dst == nil {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		// Its message may quote the value.
		return fmt.Errorf("field %s has the wrong type", key)
	}
	return nil
}

func isZero(s *api.Secret) bool {
	return s.RequestID == "" && s.LeaseID == "" && s.LeaseDuration == 0 && !s.Renewable && s.Data == nil &&
		s.Warnings == nil && s.Auth == nil && s.WrapInfo == nil && s.MountType == ""
}

// DecodeSecret decodes a secret as a response from Vault is decoded, for
// responses kept elsewhere (the state file), so that a secret read back
// renders as it did.
func DecodeSecret(raw []byte) (*api.Secret, error) {
	return decodeSecret(raw)
}
