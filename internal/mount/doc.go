// Package mount implements the provider's gRPC service: it parses
// SecretProviderClass parameters, fetches and renders objects and computes
// object versions.
package mount
