package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

const (
	// defaultTimeout bounds a call whose context has no deadline, so that a
	// hung Vault cannot hold a mount forever.
	defaultTimeout = time.Minute
)

// Request is one call to Vault.
type Request struct {
	Method string         // "GET", "PUT" or "POST" (caller has normalised to upper case)
	Path   string         // e.g. "secret/data/db": no "/v1/" prefix, no query string
	Query  url.Values     // may be nil; sent as the URL query for every method
	Body   map[string]any // sent as the JSON body when non-nil
	// EncodedBody is a body already encoded as JSON, sent instead of Body
	// when non-nil: a class's secretArgs are encoded once, when it is parsed.
	EncodedBody []byte
}

// body is the request's JSON body, nil for none.
func (r Request) body() ([]byte, error) {
	if r.EncodedBody != nil || r.Body == nil {
		return r.EncodedBody, nil
	}
	return json.Marshal(r.Body)
}

// Read performs req with the given Vault token and returns the parsed
// secret, which always has non-nil Data. Identical concurrent reads with the
// same token are sent once and share the result, which callers must treat
// as read-only. Each caller waits within its own deadline; the shared call
// goes on while any caller still waits for it.
func (c *Client) Read(ctx context.Context, token string, req Request) (*api.Secret, error) {
	key, err := newReadKey(token, req)
	if err != nil {
		return nil, newError(nil, nil, req.Method+" "+req.Path, "request body cannot be encoded as JSON", token)
	}
	secret, err := c.reads.Do(withHorizon(ctx), key, func(ctx context.Context) (*api.Secret, error) {
		return c.call(ctx, callRead, token, req, token)
	})
	if gaveUp := waiterGaveUp(ctx, err, req.Method+" "+req.Path); gaveUp != nil {
		return nil, gaveUp
	}
	if err != nil {
		return nil, err
	}
	if secret.Data == nil {
		detail := "response has no data"
		if len(secret.Warnings) > 0 {
			detail += " (warnings: " + strings.Join(secret.Warnings, "; ") + ")"
		}
		return nil, newError(ErrBadResponse, nil, req.Method+" "+req.Path, detail, token)
	}
	return secret, nil
}

// call sends req with token and parses a 2xx answer into a non-nil secret.
// secrets are redacted from any error message.
func (c *Client) call(ctx context.Context, kind callKind, token string, req Request, secrets ...string) (*api.Secret, error) {
	op := req.Method + " " + req.Path
	switch req.Method {
	case http.MethodGet, http.MethodPut, http.MethodPost:
	default:
		return nil, newError(nil, nil, op, fmt.Sprintf("unsupported method %q (want GET, PUT or POST)", req.Method), secrets...)
	}
	if req.Path == "" {
		return nil, newError(nil, nil, op, "empty path", secrets...)
	}
	if strings.IndexFunc(token, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return nil, newError(ErrPermissionDenied, nil, op, "token contains non-printable characters", secrets...)
	}
	body, err := req.body()
	if err != nil {
		// The encoder's message may quote a value, so it is left out.
		return nil, newError(nil, nil, op, "request body cannot be encoded as JSON", secrets...)
	}
	query := make(url.Values, len(req.Query))
	for k, v := range req.Query {
		query[k] = append([]string(nil), v...)
	}

	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	end, err := c.shared.begin(ctx, kind, op)
	if err != nil {
		return nil, err
	}
	resp, note, err := c.send(ctx, func(ctx context.Context, ac *api.Client) (*api.Response, error) {
		// The callback runs on a shallow copy of the shared client, so the
		// token and query stay per call and the shared client is never
		// mutated. It also sets the method, body and wrap TTL that the
		// Logical helpers would otherwise choose.
		client := ac.WithRequestCallbacks(func(r *api.Request) {
			r.Method = req.Method
			r.ClientToken = token
			r.Params = query
			r.BodyBytes = body
			r.WrapTTL = ""
		})
		if req.Method == http.MethodGet {
			return client.Logical().ReadRawWithDataWithContext(ctx, req.Path, nil)
		}
		return client.Logical().WriteRawWithContext(ctx, req.Path, body)
	})
	end(statusOf(resp))
	defer closeBody(resp)
	if err != nil {
		return nil, withNote(classify(ctx, kind, op, err, secrets...), note)
	}
	return parseSecret(ctx, kind, op, resp, secrets...)
}

// parseSecret turns a 2xx response into a secret; anything odd is an
// ErrBadResponse rather than a nil secret, so callers need no nil checks.
func parseSecret(ctx context.Context, kind callKind, op string, resp *api.Response, secrets ...string) (*api.Secret, error) {
	if resp == nil || resp.Body == nil {
		return nil, newError(ErrBadResponse, nil, op, "no response", secrets...)
	}
	// Revocation answers 204 No Content on success.
	if kind == callRevoke && resp.StatusCode == http.StatusNoContent {
		return &api.Secret{}, nil
	}
	// The transport bounds the body (limitResponses); the mount's account
	// pays for it as it is read, and for its decoding before it is decoded.
	acct := account.From(ctx)
	raw, err := readBody(resp.Body, resp.ContentLength, acct, op)
	if errors.Is(err, account.ErrExhausted) {
		return nil, err
	}
	if err != nil {
		return nil, classify(ctx, kind, op, fmt.Errorf("reading response: %w", err), secrets...)
	}
	if err := charge(ctx, op, len(raw)); err != nil {
		return nil, err
	}
	status := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, newError(ErrBadResponse, nil, op, status+": empty response body", secrets...)
	}
	if err := acct.Charge(int(account.JSONBytes(raw)), "decoding the response of "+op); err != nil {
		return nil, err
	}
	secret, err := decodeSecret(raw)
	if err != nil {
		// The decoder's message may quote response data, so it is left out.
		return nil, newError(ErrBadResponse, nil, op, status+": response body is not a Vault JSON response", secrets...)
	}
	if secret == nil {
		return nil, newError(ErrBadResponse, nil, op, status+": response has no data", secrets...)
	}
	return secret, nil
}

// readBody reads a body whole, charging acct for each buffer before it is
// allocated: the size announced, or else chunks that double up to 1 MiB,
// joined at the end, so a body of n bytes costs at most about 2n.
func readBody(r io.Reader, announced int64, acct *account.Account, op string) ([]byte, error) {
	what := "reading the response of " + op
	size := 4 << 10
	if announced > 0 && announced <= maxResponseBytes {
		size = int(announced) + 1 // room to see the end
	}
	var chunks [][]byte
	total := 0
	for {
		if err := acct.Charge(size, what); err != nil {
			return nil, err
		}
		chunk := make([]byte, size)
		n, err := io.ReadFull(r, chunk)
		chunks = append(chunks, chunk[:n])
		total += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		size = min(2*size, 1<<20)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	if err := acct.Charge(total, what); err != nil {
		return nil, err
	}
	return bytes.Join(chunks, nil), nil
}

// readKey identifies a read: the token (hashed, so the key holds no
// credential) and the request. json.Marshal sorts map keys and
// url.Values.Encode sorts parameters, so equal requests give equal keys; a
// struct, so that no two distinct requests can share one.
type readKey struct {
	token                     [sha256.Size]byte
	method, path, query, body string
}

func newReadKey(token string, req Request) (readKey, error) {
	body, err := req.body()
	if err != nil {
		return readKey{}, err
	}
	return readKey{token: sha256.Sum256([]byte(token)), method: req.Method, path: req.Path, query: req.Query.Encode(), body: string(body)}, nil
}

// withDefaultTimeout applies defaultTimeout when ctx has no deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultTimeout)
}
