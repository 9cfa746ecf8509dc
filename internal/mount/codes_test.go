package mount

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/policy"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/tmpl"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

func TestCode(t *testing.T) {
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-expired.Done()
	secretRes := schema.GroupResource{Resource: "secrets"}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want codes.Code
	}{
		{"bad parameters", context.Background(), &spc.ParamsError{Problems: []string{"x"}}, codes.InvalidArgument},
		{"bad vault config", context.Background(), fmt.Errorf("ca: %w", vault.ErrConfig), codes.InvalidArgument},
		{"malformed driver tokens", context.Background(), fmt.Errorf("x: %w", auth.ErrMalformedTokens), codes.InvalidArgument},
		{"vault rejects the arguments", context.Background(), fmt.Errorf("read: %w", vault.ErrBadRequest), codes.InvalidArgument},
		{"denied", context.Background(), fmt.Errorf("login: %w", vault.ErrPermissionDenied), codes.PermissionDenied},
		{"refused by the policy", context.Background(), &policy.Denied{Rule: "r", Parameter: "roleName", Reason: "x"}, codes.PermissionDenied},
		{"namespace labels unknown", context.Background(), fmt.Errorf("x: %w", ErrNamespaceLabels), codes.Unavailable},
		{"missing secret", context.Background(), fmt.Errorf("read: %w", vault.ErrNotFound), codes.NotFound},
		{"missing key", context.Background(), fmt.Errorf("object: %w", ErrKeyNotFound), codes.NotFound},
		{"vault down", context.Background(), fmt.Errorf("read: %w", vault.ErrUnavailable), codes.Unavailable},
		{"deadline passed", expired, fmt.Errorf("read: %w", vault.ErrUnavailable), codes.DeadlineExceeded},
		{"inner timeout, request still alive", context.Background(), fmt.Errorf("x: %w", context.DeadlineExceeded), codes.Unavailable},
		{"cancelled", context.Background(), fmt.Errorf("x: %w", context.Canceled), codes.Canceled},
		{"a template's own time", context.Background(), fmt.Errorf("t: %w", errors.Join(tmpl.ErrTimeout, context.DeadlineExceeded)), codes.ResourceExhausted},
		{"the mount's account", context.Background(), fmt.Errorf("o: %w", &account.Error{What: "x", Unit: "bytes", Limit: 1, Flag: account.FlagMountMemory}), codes.ResourceExhausted},
		{"undecodable value", context.Background(), fmt.Errorf("x: %w", ErrDecode), codes.FailedPrecondition},
		{"no kubernetes", context.Background(), fmt.Errorf("x: %w", auth.ErrNoKubernetes), codes.FailedPrecondition},
		{"no driver token in driver-tokens-only mode", context.Background(), fmt.Errorf("x: %w", auth.ErrNoDriverToken), codes.FailedPrecondition},
		{"audience refused", context.Background(), fmt.Errorf("x: %w", auth.ErrAudienceRefused), codes.InvalidArgument},
		{"mount too large", context.Background(), fmt.Errorf("x: %w", ErrMountTooLarge), codes.ResourceExhausted},
		{"token request forbidden", context.Background(), fmt.Errorf("x: %w", apierrors.NewForbidden(secretRes, "sa", errors.New("no"))), codes.PermissionDenied},
		{"kubernetes unavailable", context.Background(), apierrors.NewServiceUnavailable("down"), codes.Unavailable},
		{"odd response", context.Background(), fmt.Errorf("x: %w", vault.ErrBadResponse), codes.Internal},
		{"anything else", context.Background(), errors.New("?"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.ctx, tt.err); got != tt.want {
				t.Errorf("Code = %s, want %s", got, tt.want)
			}
		})
	}
}
