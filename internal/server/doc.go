// Package server serves the provider: the gRPC service on a unix socket for
// the driver, with logging and panic recovery, and the HTTP health endpoints.
package server
