package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Pod identifies the pod a volume is mounted for, as the driver reports it.
type Pod struct {
	Name           string
	Namespace      string
	UID            string
	ServiceAccount string
}

// SAToken is a service-account token and when it expires. Every way of
// printing or logging it (fmt verbs, slog) redacts the token.
type SAToken struct {
	Token  string
	Expiry time.Time
}

const redacted = "REDACTED"

// String describes the token without revealing it.
func (t SAToken) String() string {
	return fmt.Sprintf("SAToken{Token:%s, Expiry:%s}", redactedOrEmpty(t.Token), t.Expiry.Format(time.RFC3339))
}

// GoString is used by %#v; it redacts like String.
func (t SAToken) GoString() string {
	return fmt.Sprintf("auth.SAToken{Token:%q, Expiry:%q}", redactedOrEmpty(t.Token), t.Expiry.Format(time.RFC3339))
}

// Format makes every fmt verb redact: without it %d or %x would print the
// struct's fields, token included.
func (t SAToken) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, t.GoString())
		return
	}
	_, _ = fmt.Fprint(f, t.String())
}

// LogValue implements slog.LogValuer so structured logs never carry the token.
func (t SAToken) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token", redactedOrEmpty(t.Token)),
		slog.Time("expiry", t.Expiry),
	)
}

func redactedOrEmpty(token string) string {
	if token == "" {
		return ""
	}
	return redacted
}

// ErrMalformedTokens marks a csi.storage.k8s.io/serviceAccount.tokens
// attribute that cannot be parsed, so callers can report a bad request.
var ErrMalformedTokens = errors.New("malformed csi.storage.k8s.io/serviceAccount.tokens attribute")

// driverToken is one audience's entry in the driver's tokens attribute.
type driverToken struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// ParseDriverTokens parses the driver's csi.storage.k8s.io/serviceAccount.tokens
// attribute, {"<audience>":{"token":"...","expirationTimestamp":"..."}}, into
// tokens by audience. An empty attribute gives an empty map. A missing
// expirationTimestamp gives a zero Expiry. Errors wrap ErrMalformedTokens and
// never contain the attribute's text: json errors are described, not wrapped,
// because they may quote the input.
func ParseDriverTokens(raw string) (map[string]SAToken, error) {
	out := map[string]SAToken{}
	if strings.TrimSpace(raw) == "" {
		return out, nil
	}
	var entries map[string]*driverToken
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformedTokens, describeJSONError(err))
	}
	for audience, e := range entries {
		if e == nil || e.Token == "" {
			return nil, fmt.Errorf("%w: audience %q has no token", ErrMalformedTokens, audience)
		}
		tok := SAToken{Token: e.Token}
		if e.ExpirationTimestamp != "" {
			exp, err := time.Parse(time.RFC3339, e.ExpirationTimestamp)
			if err != nil {
				return nil, fmt.Errorf("%w: audience %q: expirationTimestamp is not an RFC 3339 time", ErrMalformedTokens, audience)
			}
			tok.Expiry = exp
		}
		out[audience] = tok
	}
	return out, nil
}

// describeJSONError names what is wrong and where, using only positions and
// key names, never values.
func describeJSONError(err error) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte offset %d", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		where := ""
		if typeErr.Field != "" {
			where = fmt.Sprintf(" at %q", typeErr.Field)
		}
		return fmt.Sprintf("unexpected JSON %s%s; want {\"<audience>\":{\"token\":...,\"expirationTimestamp\":...}}", typeErr.Value, where)
	default:
		return "not a JSON object of audience to token"
	}
}

// ErrNoKubernetes means a token must be requested from the API server but the
// provider has no Kubernetes client.
var ErrNoKubernetes = errors.New("no Kubernetes client configured")

// ErrAudienceRefused marks an audience the provider will not request a
// service-account token for (InvalidArgument: the class asks for it).
var ErrAudienceRefused = errors.New("service-account token audience refused")

// minTokenTTL is the shortest validity the TokenRequest API accepts.
const minTokenTTL = 10 * time.Minute

// AudiencePolicy limits the audiences the TokenRequest fallback asks for.
// A class chooses both the audience and where the token is sent (its Vault
// address), so an unlimited fallback would hand whoever can edit a class a
// token the API server accepts, for any service account that mounts it.
type AudiencePolicy struct {
	// Allowed lists the audiences a class may have requested; none when
	// empty.
	Allowed []string
	// APIServer lists the audiences the API server accepts: never
	// requested, whatever Allowed says.
	APIServer []string
}

// check reports why audience may not be requested, or nil.
func (p AudiencePolicy) check(audience string) error {
	if slices.Contains(p.APIServer, audience) {
		return fmt.Errorf("%w: %q is an audience the Kubernetes API server accepts, so a token for it would be a credential "+
			"for the API server; the provider never requests one, whatever -allowed-audiences says", ErrAudienceRefused, audience)
	}
	if !slices.Contains(p.Allowed, audience) {
		return fmt.Errorf("%w: the driver passed no service-account token for audience %q and the provider requests tokens "+
			"only for the audiences in -allowed-audiences (%s): add the audience to the CSIDriver's spec.tokenRequests, "+
			"or ask the node's administrator to add it to -allowed-audiences", ErrAudienceRefused, audience, strings.Join(p.Allowed, ","))
	}
	return nil
}

// TokenRequester asks the API server for a token bound to the pod (the
// TokenRequest API). It is the fallback when the driver passed no token for
// the audience, i.e. the CSIDriver object has no tokenRequests for it.
type TokenRequester struct {
	client TokenCreator
	ttl    time.Duration
	policy AudiencePolicy
}

// TokenCreator is the TokenRequest API (internal/kube's Client).
type TokenCreator interface {
	CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// NewTokenRequester returns a TokenRequester asking for tokens valid for ttl,
// raised to the API's minimum of 10 minutes, for the audiences policy
// allows. client may be nil, in which case Request fails with
// ErrNoKubernetes.
func NewTokenRequester(client TokenCreator, ttl time.Duration, policy AudiencePolicy) *TokenRequester {
	return &TokenRequester{client: client, ttl: max(ttl, minTokenTTL), policy: policy}
}

// Request creates a token for pod's service account with the given audience,
// bound to the pod so it dies with it. API errors are wrapped, so
// apierrors.IsForbidden and friends still work on the result.
func (r *TokenRequester) Request(ctx context.Context, pod Pod, audience string) (SAToken, error) {
	if audience == "" {
		return SAToken{}, errors.New("requesting a service-account token: audience is empty")
	}
	if err := r.policy.check(audience); err != nil {
		return SAToken{}, err
	}
	if r.client == nil {
		return SAToken{}, fmt.Errorf("%w: the driver passed no service-account token for audience %q; "+
			"add the audience to the CSIDriver's spec.tokenRequests, or run the provider in-cluster so it can use the TokenRequest API",
			ErrNoKubernetes, audience)
	}
	if missing := missingPodFields(pod); len(missing) > 0 {
		return SAToken{}, fmt.Errorf("requesting a service-account token for audience %q: pod identity lacks %s",
			audience, strings.Join(missing, ", "))
	}

	seconds := int64(r.ttl / time.Second)
	req := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{audience},
			ExpirationSeconds: &seconds,
			BoundObjectRef: &authenticationv1.BoundObjectReference{
				Kind:       "Pod",
				APIVersion: "v1",
				Name:       pod.Name,
				UID:        types.UID(pod.UID),
			},
		},
	}
	resp, err := r.client.CreateToken(ctx, pod.Namespace, pod.ServiceAccount, req)
	if err != nil {
		return SAToken{}, fmt.Errorf("requesting a token for service account %s/%s (pod %s, audience %q): %w",
			pod.Namespace, pod.ServiceAccount, pod.Name, audience, err)
	}
	if resp == nil || resp.Status.Token == "" {
		return SAToken{}, fmt.Errorf("requesting a token for service account %s/%s (pod %s, audience %q): the API server returned no token",
			pod.Namespace, pod.ServiceAccount, pod.Name, audience)
	}
	// The issuer may shorten the validity we asked for, so trust its expiry.
	return SAToken{Token: resp.Status.Token, Expiry: resp.Status.ExpirationTimestamp.Time}, nil
}

func missingPodFields(pod Pod) []string {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"namespace", pod.Namespace},
		{"service account", pod.ServiceAccount},
		{"name", pod.Name},
		{"UID", pod.UID},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	return missing
}

// InClusterTokenFile is where the kubelet mounts a pod's own projected
// service-account token.
const InClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// maxTokenFileSize bounds the token file read; real ones are a few KiB.
const maxTokenFileSize = 64 << 10

// ErrBadTokenFile marks a service-account token file whose claims cannot be
// read.
var ErrBadTokenFile = errors.New("unreadable service-account token")

// APIServerAudiences returns the aud claim of the service-account token at
// path: the provider's own projected token, issued with the audiences the
// API server accepts. The signature is not checked: the kubelet wrote the
// file, and only which audiences it names matters here. A missing file
// gives an error wrapping fs.ErrNotExist.
func APIServerAudiences(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTokenFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadTokenFile, path, maxTokenFileSize)
	}
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %s is not a JWT", ErrBadTokenFile, path)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: the payload is not base64url", ErrBadTokenFile, path)
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("%w: %s: the payload is not a JSON object", ErrBadTokenFile, path)
	}
	// RFC 7519: aud is one string or an array of strings.
	var one string
	if err := json.Unmarshal(claims.Aud, &one); err == nil && one != "" {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(claims.Aud, &many); err == nil && len(many) > 0 && !slices.Contains(many, "") {
		return many, nil
	}
	return nil, fmt.Errorf("%w: %s has no aud claim", ErrBadTokenFile, path)
}
