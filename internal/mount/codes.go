package mount

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/nested"
	"github.com/vault-csi-provider/vault-csi-provider/internal/policy"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/tmpl"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// Code classifies an error from the inner packages as the gRPC status code
// the driver reports. ctx is the request's: once its deadline has passed,
// every failure is reported as DeadlineExceeded, whatever layer noticed.
// Messages are the errors' own text, which never holds a token or a value.
func Code(ctx context.Context, err error) codes.Code {
	var pe *spc.ParamsError
	var apiStatus apierrors.APIStatus
	switch {
	case errors.As(err, &pe), errors.Is(err, vault.ErrConfig), errors.Is(err, vault.ErrBadRequest),
		errors.Is(err, auth.ErrMalformedTokens), errors.Is(err, auth.ErrAudienceRefused):
		return codes.InvalidArgument
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, vault.ErrPermissionDenied), errors.Is(err, policy.ErrDenied):
		return codes.PermissionDenied
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, ErrKeyNotFound), errors.Is(err, nested.ErrNotFound),
		errors.Is(err, tmpl.ErrMissing):
		return codes.NotFound
	case errors.Is(err, tmpl.ErrTimeout):
		// A template's own time or step limit, not the mount's deadline
		// (above): retrying cannot help.
		return codes.ResourceExhausted
	case errors.Is(err, vault.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrNamespaceLabels):
		return codes.Unavailable
	case errors.Is(err, ErrFileConflict), errors.Is(err, nested.ErrType), errors.Is(err, nested.ErrLimit),
		errors.Is(err, tmpl.ErrExec), errors.Is(err, tmpl.ErrSyntax):
		return codes.InvalidArgument
	case errors.Is(err, ErrDecode), errors.Is(err, auth.ErrNoKubernetes), errors.Is(err, auth.ErrNoDriverToken):
		return codes.FailedPrecondition
	// What gRPC itself reports for a message over its size limit, which
	// this error stands for.
	case errors.Is(err, ErrMountTooLarge), errors.Is(err, tmpl.ErrTooLarge), errors.Is(err, tmpl.ErrTimeout),
		errors.Is(err, vault.ErrResponsesTooLarge), errors.Is(err, account.ErrExhausted):
		return codes.ResourceExhausted
	case errors.As(err, &apiStatus):
		return kubernetesCode(err)
	default:
		return codes.Internal
	}
}

// kubernetesCode classifies a Kubernetes API error (TokenRequest, the HMAC
// key Secret).
func kubernetesCode(err error) codes.Code {
	switch {
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return codes.PermissionDenied
	case apierrors.IsNotFound(err):
		return codes.NotFound
	case apierrors.IsBadRequest(err), apierrors.IsInvalid(err):
		return codes.InvalidArgument
	default:
		return codes.Unavailable
	}
}
