package vault

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Login is the result of a successful login.
type Login struct {
	Token     string
	Accessor  string
	TTL       time.Duration
	Renewable bool
}

// Login does POST auth/<mount>/login {"role": role, "jwt": jwt}, which is
// the same call for the kubernetes and the jwt auth methods. A rejected
// login (400, 401, 403) wraps ErrPermissionDenied with Vault's message; an
// answer without a client token wraps ErrBadResponse. The jwt never appears
// in an error.
func (c *Client) Login(ctx context.Context, mount, role, jwt string) (Login, error) {
	mount = strings.Trim(mount, "/")
	req := Request{
		Method: http.MethodPost,
		Path:   "auth/" + mount + "/login",
		Body:   map[string]any{"role": role, "jwt": jwt},
	}
	op := req.Method + " " + req.Path
	switch {
	case mount == "":
		return Login{}, newError(ErrConfig, nil, op, "empty auth mount path")
	case jwt == "":
		return Login{}, newError(ErrPermissionDenied, nil, op, "empty service account token")
	}
	// No Vault token: login endpoints are unauthenticated.
	secret, err := c.call(ctx, callLogin, "", req, jwt)
	if err != nil {
		return Login{}, err
	}
	if secret.Auth == nil || secret.Auth.ClientToken == "" {
		return Login{}, newError(ErrBadResponse, nil, op, "response has no auth block with a client token", jwt)
	}
	return Login{
		Token:     secret.Auth.ClientToken,
		Accessor:  secret.Auth.Accessor,
		TTL:       time.Duration(secret.Auth.LeaseDuration) * time.Second,
		Renewable: secret.Auth.Renewable,
	}, nil
}
