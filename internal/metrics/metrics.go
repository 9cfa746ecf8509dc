// Package metrics defines the provider's Prometheus metrics. One Metrics
// value is created at start and injected where events happen, so tests use
// their own registry and nothing is global.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "vault_csi_provider"

// Metrics holds every collector the provider updates.
type Metrics struct {
	// Mounts counts Mount calls by gRPC result code.
	Mounts *prometheus.CounterVec
	// MountDuration observes Mount latency by result code.
	MountDuration *prometheus.HistogramVec
	// VaultRequests counts HTTP calls to Vault by operation (read, login,
	// renew, revoke) and status (the HTTP code, or "error").
	VaultRequests *prometheus.CounterVec
	// VaultRequestDuration observes Vault call latency by operation.
	VaultRequestDuration *prometheus.HistogramVec
	// VaultRetries counts the tries of a Vault call after its first, by
	// event: next_node (another address of the cluster, at once), wait
	// (after a backoff), budget_spent (a try not made because its node's
	// retry budget was spent).
	VaultRetries *prometheus.CounterVec
	// VaultRequestsInFlight is the number of Vault calls under way.
	VaultRequestsInFlight prometheus.Gauge
	// Logins counts Vault logins by result (ok, error).
	Logins *prometheus.CounterVec
	// TokenCacheSize, TokenCacheHits and TokenCacheMisses describe the
	// Vault token cache.
	TokenCacheSize   prometheus.Gauge
	TokenCacheHits   prometheus.Counter
	TokenCacheMisses prometheus.Counter
	// LeaseCacheSize is the number of leased secrets kept for reuse.
	LeaseCacheSize prometheus.Gauge
	// LeaseCacheBytes is the memory those kept secrets take, as the cache
	// estimates it against its bounds.
	LeaseCacheBytes prometheus.Gauge
	// LeaseCacheDropped counts kept secrets dropped, or never kept, for
	// the cache's byte bounds, by reason: too_large (above a pod's bound,
	// not kept), pod_limit, node_limit (the least recently used dropped).
	LeaseCacheDropped *prometheus.CounterVec
	// Leases counts leased secrets by event: created, reused, renewed,
	// revoked, expired.
	Leases *prometheus.CounterVec
	// Certificates counts certificates without a lease by event: issued,
	// reused, reissued.
	Certificates *prometheus.CounterVec
	// KubernetesRequests counts calls to the Kubernetes API by operation.
	KubernetesRequests *prometheus.CounterVec
	// HMACKeyAvailable is 1 while the HMAC key that versions objects is
	// readable, 0 while mounts use the in-memory fallback key.
	HMACKeyAvailable prometheus.Gauge
	// PolicyDenials counts mounts refused by the node's policy, by the
	// rule that refused (an admin's rule name, "default", "vaultAddresses"
	// or "classMayNotSet": as many values as the policy has rules).
	PolicyDenials *prometheus.CounterVec
	// SyncUnnameable counts objects of sync controller Mounts whose files
	// no SecretSync sourcePath can name (keysAsFiles, nested objectName).
	SyncUnnameable prometheus.Counter
	// PolicyReloads counts reads of a changed policy file by result (ok,
	// error).
	PolicyReloads *prometheus.CounterVec
	// PolicyFileValid is 1 while the policy in force is the file's, 0 while
	// the file cannot be read or parsed and the last good policy applies.
	PolicyFileValid prometheus.Gauge
	// StaleAnswers counts the responses served from the last good ones
	// while every address of their Vault was down (staleIfError).
	StaleAnswers prometheus.Counter
	// StaleKeptBytes is the memory of the responses kept for stale answers.
	StaleKeptBytes prometheus.Gauge
	// StateWrites counts writes of the state file by result (ok, error).
	StateWrites *prometheus.CounterVec
	// StateFileBytes is the size of the last state file written.
	StateFileBytes prometheus.Gauge
	// StateLeftOut counts the entries left out of a state file write to
	// keep it within -max-state-bytes (the least recently used first).
	StateLeftOut prometheus.Counter
}

// New creates the collectors and registers them, with the Go and process
// collectors, on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Mounts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mounts_total", Help: "Mount calls by gRPC result code.",
		}, []string{"code"}),
		MountDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "mount_duration_seconds", Help: "Mount latency by gRPC result code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"code"}),
		VaultRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "vault_requests_total", Help: "Calls to Vault by operation and HTTP status (or error).",
		}, []string{"operation", "status"}),
		VaultRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "vault_request_duration_seconds", Help: "Latency of calls to Vault by operation, retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
		VaultRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "vault_retries_total", Help: "Tries of a Vault call after its first, by event: next_node (another address, at once), wait (after a backoff), budget_spent (not made: the node's retry budget was spent).",
		}, []string{"event"}),
		VaultRequestsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "vault_requests_in_flight", Help: "Calls to Vault under way.",
		}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "logins_total", Help: "Vault logins by result.",
		}, []string{"result"}),
		TokenCacheSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "token_cache_size", Help: "Vault tokens cached.",
		}),
		TokenCacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_cache_hits_total", Help: "Mounts served with a cached Vault token.",
		}),
		TokenCacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_cache_misses_total", Help: "Mounts that needed a login.",
		}),
		LeaseCacheSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "lease_cache_size", Help: "Leased secrets and certificates kept for reuse.",
		}),
		LeaseCacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "lease_cache_bytes", Help: "Estimated memory of the leased secrets and certificates kept for reuse.",
		}),
		LeaseCacheDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "lease_cache_dropped_total", Help: "Leased secrets and certificates dropped, or never kept, to stay within the cache's byte bounds, by reason: too_large (above a pod's bound, not kept), pod_limit, node_limit (least recently used dropped).",
		}, []string{"reason"}),
		Leases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "leases_total", Help: "Leased secrets by event: created, reused, renewed, revoked, expired.",
		}, []string{"event"}),
		Certificates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "certificates_total", Help: "Certificates issued without a lease, by event: issued, reused (kept and returned on republish), reissued (anew once due).",
		}, []string{"event"}),
		KubernetesRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "kubernetes_requests_total", Help: "Calls to the Kubernetes API by operation.",
		}, []string{"operation"}),
		HMACKeyAvailable: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "hmac_key_available", Help: "1 while the HMAC key Secret is readable, 0 while object versions use an in-memory fallback key.",
		}),
		PolicyDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "policy_denials_total", Help: "Mounts refused by the node's policy (-policy-file), by the rule that refused.",
		}, []string{"rule"}),
		SyncUnnameable: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "sync_unnameable_objects_total", Help: "Objects of sync controller Mounts whose files no SecretSync sourcePath can name (keysAsFiles, nested objectName).",
		}),
		PolicyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "policy_reloads_total", Help: "Reads of a changed node policy file, by result: ok (now in force), error (the last good policy stays).",
		}, []string{"result"}),
		PolicyFileValid: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "policy_file_valid", Help: "1 while the node policy in force is the file's, 0 while the file is unreadable or invalid and the last good policy applies.",
		}),
		StaleAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "stale_answers_total", Help: "Responses served from the last good ones of the same identity while every address of their Vault was down (staleIfError).",
		}),
		StaleKeptBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "stale_kept_bytes", Help: "Estimated memory of the last good responses kept for staleIfError.",
		}),
		StateWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "state_writes_total", Help: "Writes of the state file (-state-file) by result: ok, error.",
		}, []string{"result"}),
		StateFileBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "state_file_bytes", Help: "Size of the state file last written.",
		}),
		StateLeftOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "state_left_out_total", Help: "Entries (tokens, leases, certificates, stale responses) left out of a state file write to stay within -max-state-bytes, the least recently used first.",
		}),
	}
	reg.MustRegister(m.Mounts, m.MountDuration, m.VaultRequests, m.VaultRequestDuration, m.VaultRetries, m.VaultRequestsInFlight,
		m.Logins, m.TokenCacheSize, m.TokenCacheHits, m.TokenCacheMisses, m.LeaseCacheSize, m.LeaseCacheBytes, m.LeaseCacheDropped, m.Leases, m.Certificates, m.KubernetesRequests, m.HMACKeyAvailable,
		m.PolicyDenials, m.PolicyReloads, m.PolicyFileValid, m.StaleAnswers, m.StaleKeptBytes, m.StateWrites, m.StateFileBytes, m.StateLeftOut, m.SyncUnnameable,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// NewUnregistered returns Metrics that nothing scrapes, for tests and the
// offline check.
func NewUnregistered() *Metrics { return New(prometheus.NewRegistry()) }

// Handler serves the metrics of g in the Prometheus text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
