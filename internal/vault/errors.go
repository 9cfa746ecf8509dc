package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"
)

// Sentinel errors. Every error returned by this package that has a known
// cause wraps exactly one of them, so callers can map them with errors.Is.
var (
	// ErrConfig reports a bad client configuration: TLS files, address.
	ErrConfig = errors.New("invalid Vault client configuration")
	// ErrPermissionDenied reports a 401 or 403 from Vault, or a failed login.
	ErrPermissionDenied = errors.New("permission denied by Vault")
	// ErrNotFound reports a 404, or a read that returned no secret.
	ErrNotFound = errors.New("not found in Vault")
	// ErrUnavailable reports that Vault could not be reached or answered
	// 429/5xx (sealed, overloaded) after retries were exhausted, or that the
	// context ended first.
	ErrUnavailable = errors.New("vault unavailable")
	// ErrBadRequest reports a 400 to a read: Vault rejected the path, query
	// or arguments (for example a common name a PKI role does not allow).
	ErrBadRequest = errors.New("request rejected by Vault")
	// ErrBadResponse reports a 2xx answer that cannot be used: empty or
	// non-JSON body, no data, a login without an auth block.
	ErrBadResponse = errors.New("bad response from Vault")
	// ErrResponsesTooLarge reports an answer of any status whose headers or
	// body pass their bound, or responses beyond their caller's
	// ResponseBudget: a limit was reached, which a retry cannot change.
	ErrResponsesTooLarge = errors.New("vault responses too large")
)

// maxErrorText bounds how much of a non-JSON error body (often an HTML page
// from a proxy) ends up in an error message.
const maxErrorText = 256

// minRedactLen avoids redacting every occurrence of a trivially short string.
const minRedactLen = 6

// opError is what this package returns for a failed call. Its message is
// built here and never contains tokens, JWTs or request bodies;
// Unwrap exposes the sentinel and the underlying cause (for example an
// *api.ResponseError or context.DeadlineExceeded) to errors.Is and errors.As.
type opError struct {
	msg   string
	kind  error // one of the sentinels, or nil when none applies
	cause error // underlying error, or nil
}

func (e *opError) Error() string { return e.msg }

func (e *opError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// newError builds an opError whose message is "vault: <op>: <detail>" with
// every secret string redacted.
func newError(kind, cause error, op, detail string, secrets ...string) error {
	return &opError{
		msg:   redact("vault: "+op+": "+detail, secrets...),
		kind:  kind,
		cause: cause,
	}
}

// withNote appends note, when there is one, to err's message.
func withNote(err error, note string) error {
	var oe *opError
	if note != "" && errors.As(err, &oe) {
		oe.msg += " (" + note + ")"
	}
	return err
}

// configError reports an invalid setting; it wraps ErrConfig.
func configError(cause error, format string, args ...any) error {
	return &opError{msg: "vault: " + fmt.Sprintf(format, args...), kind: ErrConfig, cause: cause}
}

// redact replaces secret strings that Vault or a proxy might echo back.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= minRedactLen {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// callKind says which classification rules apply to a call.
type callKind int

const (
	callRead callKind = iota
	callLogin
	callRenew
	callRevoke
)

// waiterGaveUp is the error of a caller whose own context ended while it
// waited for a shared call (coalesce.Group returns the context's error
// then), or nil when err is anything else.
func waiterGaveUp(ctx context.Context, err error, op string) error {
	if ctxErr := ctx.Err(); ctxErr != nil && err == ctxErr {
		return newError(ErrUnavailable, ctxErr, op, "gave up: "+ctxErr.Error())
	}
	return nil
}

// classify turns an error from the api client into an opError.
func classify(ctx context.Context, kind callKind, op string, err error, secrets ...string) error {
	var tooLarge *bodyTooLargeError
	if errors.As(err, &tooLarge) {
		return newError(ErrResponsesTooLarge, err, op, tooLarge.Error(), secrets...)
	}
	var headers *headersTooLargeError
	if errors.As(err, &headers) {
		return newError(ErrResponsesTooLarge, err, op, headers.Error(), secrets...)
	}
	var respErr *api.ResponseError
	if errors.As(err, &respErr) {
		return classifyResponse(kind, op, respErr, secrets...)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Keep both the sentinel and context.DeadlineExceeded/Canceled
		// visible: the gRPC layer may prefer the latter.
		cause := err
		if !errors.Is(err, ctxErr) {
			cause = errors.Join(ctxErr, err)
		}
		return newError(ErrUnavailable, cause, op, "gave up: "+ctxErr.Error(), secrets...)
	}
	if isCertError(err) {
		return newError(ErrConfig, err, op,
			"TLS verification failed (check the CA certificate and TLS server name settings): "+err.Error(), secrets...)
	}
	return newError(ErrUnavailable, err, op, "request failed: "+err.Error(), secrets...)
}

func classifyResponse(kind callKind, op string, re *api.ResponseError, secrets ...string) error {
	var sentinel error
	switch code := re.StatusCode; {
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		sentinel = ErrPermissionDenied
	case code == http.StatusBadRequest && kind == callLogin:
		// Auth methods answer 400 for an unknown role or an invalid JWT.
		sentinel = ErrPermissionDenied
	case code == http.StatusBadRequest:
		sentinel = ErrBadRequest
	case code == http.StatusNotFound:
		sentinel = ErrNotFound
	case code == http.StatusTooManyRequests, code == http.StatusPreconditionFailed, code >= 500:
		sentinel = ErrUnavailable
	}
	// The cause stays available to errors.As, so it gets redacted too.
	clean := *re
	clean.Errors = make([]string, len(re.Errors))
	for i, e := range re.Errors {
		clean.Errors[i] = redact(e, secrets...)
	}
	detail := fmt.Sprintf("HTTP %d", re.StatusCode)
	switch msg := vaultMessage(&clean); {
	case msg != "":
		detail += ": " + msg
	case sentinel == ErrNotFound:
		detail += ": nothing at this path (missing or deleted secret, or no such mount)"
	}
	return newError(sentinel, &clean, op, detail, secrets...)
}

// truncate cuts s to at most limit bytes, on a rune boundary, marking the
// cut with "...".
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// vaultMessage joins Vault's error strings, bounding raw (non-JSON) bodies.
func vaultMessage(re *api.ResponseError) string {
	msg := strings.Join(re.Errors, "; ")
	if re.RawError {
		msg = strings.Join(strings.Fields(msg), " ")
		msg = truncate(msg, maxErrorText)
	}
	return msg
}

// isCertError reports a failed certificate verification: retrying cannot
// fix it, and it usually means the CA or server name settings are wrong.
func isCertError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verification)
}
