package vault

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy bounds the retries of one call to Vault. Connection errors,
// 412 and 5xx (except 501) move on to the cluster's next address at once;
// once every address has failed, the call waits (backoff with jitter, or
// longer if Vault sent Retry-After) and tries again. A 429 is a throttle of
// the whole cluster, so the call waits instead of moving on. Other statuses
// are not retried. The caller's context deadline always wins: a wait that
// would end past it is not started.
type RetryPolicy struct {
	// MaxRetries is the rounds of tries after the first (a round tries
	// each address once).
	MaxRetries int
	MinWait    time.Duration
	MaxWait    time.Duration
	// Budget bounds the retries each Vault host and port receives, however
	// its addresses are written; the zero Budget does not.
	Budget Budget
}

// Budget is a token bucket of retries per Vault host and port, shared by
// every call of the process: Ratio of the calls' first tries plus PerSecond,
// holding at most Burst. When a Vault outage fails every call, retries
// stay at PerSecond per address instead of multiplying the mounts' own
// demand, so that the cluster coming back is not met by a storm.
type Budget struct {
	PerSecond float64
	Ratio     float64
	Burst     float64
}

// WithBudget returns p with a budget of perSecond retries per second per
// address, a burst of twice that, and a fifth of the first tries; 0 for
// none.
func (p RetryPolicy) WithBudget(perSecond float64) RetryPolicy {
	p.Budget = Budget{}
	if perSecond > 0 {
		p.Budget = Budget{PerSecond: perSecond, Ratio: 0.2, Burst: max(2*perSecond, 1)}
	}
	return p
}

// DefaultRetryPolicy returns 4 rounds of retries with exponential backoff
// and jitter between 100ms and 2s (at most 1.5s of waiting unless Vault
// sends Retry-After), well inside the kubelet's 2 minute mount deadline,
// and a budget of 10 retries per second per address plus a fifth of the
// calls' first tries.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 4, MinWait: 100 * time.Millisecond, MaxWait: 2 * time.Second}.WithBudget(10)
}

func (p RetryPolicy) validate() error {
	switch b := p.Budget; {
	case p.MaxRetries < 0:
		return fmt.Errorf("retry policy: MaxRetries %d is negative", p.MaxRetries)
	case p.MinWait < 0 || p.MaxWait < 0:
		return fmt.Errorf("retry policy: negative wait (MinWait %s, MaxWait %s)", p.MinWait, p.MaxWait)
	case p.MinWait > p.MaxWait:
		return fmt.Errorf("retry policy: MinWait %s is above MaxWait %s", p.MinWait, p.MaxWait)
	case b.PerSecond < 0 || b.Ratio < 0 || b.Burst < 0:
		return fmt.Errorf("retry policy: negative budget %+v", b)
	case b != (Budget{}) && b.Burst < 1:
		return fmt.Errorf("retry policy: budget burst %g below 1 allows no retry", b.Burst)
	}
	return nil
}

// backoff is the wait before round+1: exponential from MinWait, capped at
// MaxWait, with jitter in [wait/2, wait] so that the mounts failed by one
// Vault hiccup do not come back in lockstep.
func (p RetryPolicy) backoff(round int) time.Duration {
	wait := p.MinWait
	for i := 0; i < round && wait < p.MaxWait; i++ {
		wait *= 2
	}
	wait = min(wait, p.MaxWait)
	if wait <= 0 {
		return 0
	}
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
