package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vault-csi-provider/vault-csi-provider/internal/logging"
)

func TestInterceptor(t *testing.T) {
	tests := []struct {
		name     string
		handler  grpc.UnaryHandler
		wantCode codes.Code
		wantLog  []string
	}{
		{
			name: "success logs code and handler fields",
			handler: func(ctx context.Context, _ any) (any, error) {
				logging.Add(ctx, slog.String("pod", "shop/web-1"))
				return "ok", nil
			},
			wantCode: codes.OK,
			wantLog:  []string{"level=INFO", "method=/v1alpha1.CSIDriverProvider/Mount", "code=OK", "pod=shop/web-1", "duration="},
		},
		{
			name: "error logs code and message",
			handler: func(context.Context, any) (any, error) {
				return nil, status.Error(codes.NotFound, "no secret at kv/app")
			},
			wantCode: codes.NotFound,
			wantLog:  []string{"level=ERROR", "code=NotFound", `error="no secret at kv/app"`},
		},
		{
			name: "panic becomes Internal",
			handler: func(context.Context, any) (any, error) {
				panic("boom: unexpected response shape")
			},
			wantCode: codes.Internal,
			wantLog:  []string{"panic in handler", "boom: unexpected response shape", "code=Internal"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			icp := Interceptor(log)
			info := &grpc.UnaryServerInfo{FullMethod: "/v1alpha1.CSIDriverProvider/Mount"}
			_, err := icp(context.Background(), "request", info, tt.handler)
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code = %s, want %s", got, tt.wantCode)
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, buf.String())
				}
			}
		})
	}
}
