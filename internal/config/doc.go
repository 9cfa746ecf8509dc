// Package config turns command-line flags and VAULT_* environment variables
// into validated settings for the daemon and the offline mount check. The
// flag names are those of hashicorp/vault-csi-provider, so existing
// DaemonSet arguments keep working.
package config
