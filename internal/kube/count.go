package kube

import (
	"net/http"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// counting counts requests to the API server by verb and resource, so the
// "no Kubernetes call on a warm mount" promise can be watched in production.
type counting struct {
	next    http.RoundTripper
	metrics *metrics.Metrics
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.metrics.KubernetesRequests.WithLabelValues(operation(r.Method, r.URL.Path)).Inc()
	return c.next.RoundTrip(r)
}

// operation names a request without namespaces or object names, which
// would make the label unbounded: "POST serviceaccounts/token",
// "GET secrets", "GET pods" (list and watch).
func operation(method, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	// Skip "api/v1" or "apis/GROUP/VERSION".
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		segs = segs[3:]
	default:
		return method + " other"
	}
	if len(segs) >= 2 && segs[0] == "namespaces" && len(segs) > 2 {
		segs = segs[2:]
	}
	if len(segs) == 0 {
		return method + " other"
	}
	resource := segs[0]
	if len(segs) >= 3 {
		resource += "/" + segs[2]
	}
	return method + " " + resource
}
