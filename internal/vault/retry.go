package vault

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy bounds the retries of one call to Vault. Connection errors,
// 429, 412 and 5xx (except 501) are retried; other statuses are not. The
// caller's context deadline always wins over the policy.
type RetryPolicy struct {
	MaxRetries int // retries after the first attempt
	MinWait    time.Duration
	MaxWait    time.Duration
}

// DefaultRetryPolicy returns 4 retries with exponential backoff and jitter
// between 100ms and 2s: at most 1.5s of waiting (8s if Vault sends
// Retry-After), well inside the kubelet's 2 minute mount deadline.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 4, MinWait: 100 * time.Millisecond, MaxWait: 2 * time.Second}
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxRetries < 0:
		return fmt.Errorf("retry policy: MaxRetries %d is negative", p.MaxRetries)
	case p.MinWait < 0 || p.MaxWait < 0:
		return fmt.Errorf("retry policy: negative wait (MinWait %s, MaxWait %s)", p.MinWait, p.MaxWait)
	case p.MinWait > p.MaxWait:
		return fmt.Errorf("retry policy: MinWait %s is above MaxWait %s", p.MinWait, p.MaxWait)
	}
	return nil
}

// backoff has the signature of retryablehttp.Backoff. It ignores the min and
// max it is given because the api client replaces a zero minimum with its
// own 1s default; the policy's values are the ones that count.
func (p RetryPolicy) backoff(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
	if wait, ok := retryAfter(resp); ok {
		return min(max(wait, p.MinWait), p.MaxWait)
	}
	wait := p.MinWait
	for i := 0; i < attempt && wait < p.MaxWait; i++ {
		wait *= 2
	}
	wait = min(wait, p.MaxWait)
	if wait <= 0 {
		return 0
	}
	// Jitter in [wait/2, wait] so that many mounts retrying after one Vault
	// hiccup do not arrive in lockstep.
	half := wait / 2
	return half + rand.N(wait-half+1)
}

// retryAfter reads a Retry-After header given in seconds on 429 and 503.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}
