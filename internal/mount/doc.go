// Package mount implements the provider's gRPC service: it takes a class's
// plan (package spc), logs in, sends the plan's requests, renders the
// outputs into files and computes each file's version.
package mount
