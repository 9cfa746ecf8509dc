package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vault-csi-provider/vault-csi-provider/internal/logging"
)

// Interceptor logs one line per call (method, duration, code and what the
// handler recorded, such as the pod) and turns a panic into an Internal
// error so one bad request never takes the daemon down. It never logs the
// request or response, which carry tokens and secrets.
func Interceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		ctx, fields := logging.WithFields(ctx)
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error in the provider; see its log")
			}
			code := status.Code(err)
			attrs := append([]slog.Attr{
				slog.String("method", info.FullMethod),
				slog.Duration("duration", time.Since(start)),
				slog.String("code", code.String()),
			}, fields.Attrs()...)
			level := slog.LevelInfo
			if err != nil {
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
			}
			log.LogAttrs(ctx, level, "grpc call", attrs...)
		}()
		return handler(ctx, req)
	}
}
