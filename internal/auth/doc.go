// Package auth turns a pod's identity into a Vault token: it finds the pod's
// service-account token, logs in to Vault and caches the result per pod
// identity.
package auth
