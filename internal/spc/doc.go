// Package spc parses a SecretProviderClass, as the driver sends it in a
// Mount request's attributes, into a Plan: the distinct Vault requests,
// each with its key and JSON body computed once, and the outputs that make
// the volume's files from their responses. It also holds the node-wide
// defaults a class overrides and the limits it must keep; every field is
// treated as hostile input from another tenant.
package spc
