package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// maxAddresses bounds the addresses a Config may list: a cluster has three
// or five nodes, and each address costs a try per round.
const maxAddresses = 9

// node is one address of the cluster a Client talks to.
type node struct {
	addr string
	// host is addr's host and port (see hostPort), which its retry
	// budgets are keyed by.
	host   string
	api    *api.Client
	budget *budget // shared by every client of this host and port
}

// budget is one address's token bucket of retries (see Budget).
type budget struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// share is what one namespace may spend of an address's budget: half, so
// that a class whose reads always fail (a broken database role answers 500)
// cannot leave other namespaces without retries.
func (p Budget) share() Budget {
	if p == (Budget{}) {
		return p
	}
	return Budget{PerSecond: p.PerSecond / 2, Ratio: p.Ratio, Burst: max(p.Burst/2, 1)}
}

// deposit credits a call's first try.
func (b *budget) deposit(p Budget) {
	if p == (Budget{}) {
		return
	}
	b.mu.Lock()
	b.tokens = min(b.tokens+p.Ratio, p.Burst)
	b.mu.Unlock()
}

// take spends one retry, reporting false when none is left.
func (b *budget) take(p Budget, now time.Time) bool {
	if p == (Budget{}) {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = p.Burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.tokens+d.Seconds()*p.PerSecond, p.Burst)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// verdict is what one try's outcome means for the call.
type verdict int

const (
	answered  verdict = iota // final: a success or an error no retry can fix
	nextNode                 // this address cannot serve now: try the next one at once
	throttled                // 429: the cluster asks every client to slow down
)

// judge classifies one try. A standby that has lost its active node answers
// 500 or 503, a sealed node 503, a node that is down refuses the
// connection: all of these move on.
func judge(ctx context.Context, resp *api.Response, err error) verdict {
	if err == nil || ctx.Err() != nil {
		return answered
	}
	status := statusOf(resp)
	var re *api.ResponseError
	if errors.As(err, &re) {
		status = re.StatusCode
	}
	var tooLarge *bodyTooLargeError
	var headers *headersTooLargeError
	switch {
	case status == http.StatusTooManyRequests:
		return throttled
	case status == http.StatusPreconditionFailed, status >= 500 && status != http.StatusNotImplemented:
		return nextNode
	case status != 0, isCertError(err), errors.As(err, &tooLarge), errors.As(err, &headers):
		return answered
	default:
		// No answer: refused, reset, or this try's own time ran out.
		return nextNode
	}
}

// attempt sends one try to one address.
type attempt func(ctx context.Context, ac *api.Client) (*api.Response, error)

// send runs try against the cluster: it starts at the address that last
// answered, moves on at once past addresses that cannot serve, and after a
// round in which none could, waits and starts another, within the retry
// policy, the per-address budgets and ctx's deadline. note says, for the
// error message, which address gave a failed call's last answer and why
// the call stopped early.
func (c *Client) send(ctx context.Context, try attempt) (resp *api.Response, note string, err error) {
	p, m := c.retry, c.shared.metrics
	first := true
	tries, last, spent := 0, "", ""
	tenant := tenantOf(ctx)
	failed := func(why string) (*api.Response, string, error) {
		var notes []string
		if len(c.nodes) > 1 && tries > 0 {
			notes = append(notes, fmt.Sprintf("the last of %d tries, from %s", tries, last))
		}
		if why != "" {
			notes = append(notes, why)
		}
		return resp, strings.Join(notes, "; "), err
	}
	for round := 0; ; round++ {
		start := int(c.preferred.Load())
		var wait time.Duration
		tried := false
		for i := range c.nodes {
			idx := (start + i) % len(c.nodes)
			n := c.nodes[idx]
			// Calls without a namespace (revocations) draw on the
			// address's budget alone.
			var share *budget
			if tenant != "" {
				share = c.shared.budget(n.host, tenant)
			}
			switch {
			case first:
				n.budget.deposit(p.Budget)
				if share != nil {
					share.deposit(p.Budget.share())
				}
			case share != nil && !share.take(p.Budget.share(), time.Now()):
				m.VaultRetries.WithLabelValues("budget_spent").Inc()
				spent = fmt.Sprintf("namespace %q's half of the retry budget of %s", tenant, c.addresses())
				continue
			case !n.budget.take(p.Budget, time.Now()):
				m.VaultRetries.WithLabelValues("budget_spent").Inc()
				spent = "the retry budget of " + c.addresses()
				continue
			case i > 0:
				m.VaultRetries.WithLabelValues("next_node").Inc()
			default:
				m.VaultRetries.WithLabelValues("wait").Inc()
			}
			first, tried = false, true
			closeBody(resp)
			resp, err = c.try(ctx, try, n)
			tries, last = tries+1, n.addr
			v := judge(ctx, resp, err)
			if v == answered {
				if resp != nil || err == nil {
					c.preferred.Store(int32(idx))
				}
				return resp, "", err
			}
			if d, ok := retryAfter(rawResponse(resp)); ok {
				wait = max(wait, d)
			}
			if v == throttled {
				break
			}
		}
		switch {
		case !tried:
			return failed("not retried: Vault has been failing and " + spent + " is spent")
		case round >= p.MaxRetries:
			return failed("")
		}
		wait = max(wait, p.backoff(round))
		if deadline, ok := horizon(ctx); ok && time.Until(deadline) < wait {
			return failed(fmt.Sprintf("not retried: the next try, in %s, would come after the deadline", wait.Round(time.Millisecond)))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return failed("")
		case <-timer.C:
		}
	}
}

type horizonKey struct{}

// withHorizon records ctx's deadline where it survives the detached context
// of a coalesced read (see coalesce.Group), so that the shared call does
// not start a wait its first caller would not see the end of.
func withHorizon(ctx context.Context) context.Context {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithValue(ctx, horizonKey{}, deadline)
	}
	return ctx
}

// horizon is the time after which no try is worth starting: ctx's
// deadline, or the earlier one recorded by withHorizon.
func horizon(ctx context.Context) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	if h, found := ctx.Value(horizonKey{}).(time.Time); found && (!ok || h.Before(deadline)) {
		return h, true
	}
	return deadline, ok
}

// try sends one try to n. With several addresses a try gets at most half
// of what is left of the call's time, so that an address that accepts
// connections but never answers leaves time for the others; that time also
// covers reading the body, so it ends when the body is closed.
func (c *Client) try(ctx context.Context, try attempt, n node) (*api.Response, error) {
	deadline, ok := horizon(ctx)
	if len(c.nodes) == 1 || !ok {
		return try(ctx, n.api)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Until(deadline)/2)
	resp, err := try(ctx, n.api)
	if resp == nil || resp.Body == nil {
		cancel()
		return resp, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, err
}

// cancelOnClose ends a try's context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (c *Client) addresses() string {
	if len(c.nodes) == 1 {
		return c.nodes[0].addr
	}
	return "every address"
}

// rawResponse is the HTTP response of a try, for its headers.
func rawResponse(resp *api.Response) *http.Response {
	if resp != nil && resp.Response != nil {
		return resp.Response
	}
	return nil
}

func closeBody(resp *api.Response) {
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
}

// Addresses splits a Vault address setting into its addresses: one, or
// several of one cluster separated by commas.
func Addresses(setting string) []string {
	parts := strings.Split(setting, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// hostPort is the host and port an http(s) address reaches, so that the
// ways of writing one Vault address share its retry budget: the scheme's
// default port filled in, the port in decimal, the host in lower case
// without a trailing dot, an IP address in its canonical form (an IPv4
// address mapped into IPv6 as IPv4); the scheme, user info, path and query
// ignored. Any other address (unix://) is its own key.
func hostPort(addr string) string {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return addr
	}
	port := u.Port()
	switch {
	case port != "":
		if n, err := strconv.ParseUint(port, 10, 16); err == nil {
			port = strconv.FormatUint(n, 10)
		}
	case u.Scheme == "http":
		port = "80"
	case u.Scheme == "https":
		port = "443"
	default:
		return addr
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else {
		host = strings.TrimSuffix(strings.ToLower(host), ".")
	}
	return net.JoinHostPort(host, port)
}

// ClusterKey names the Vault cluster a setting of one or several addresses
// reaches, however they are written: the hosts and ports of its elements,
// normalised as hostPort does, sorted. Bounds per Vault (revocations) key
// by it, so that writing an address another way gets no share of its own.
func ClusterKey(setting string) string {
	addrs := Addresses(setting)
	keys := make([]string, len(addrs))
	for i, a := range addrs {
		keys[i] = hostPort(a)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// checkAddresses checks a setting that lists several addresses.
func checkAddresses(setting string) error {
	addrs := Addresses(setting)
	if len(addrs) > maxAddresses {
		return fmt.Errorf("lists %d addresses: at most %d of one Vault cluster", len(addrs), maxAddresses)
	}
	seen := make(map[string]bool, len(addrs))
	for i, a := range addrs {
		switch {
		case a == "":
			return fmt.Errorf("has an empty address at position %d: separate the addresses of one cluster with commas", i+1)
		case strings.HasPrefix(a, "unix://"):
			return fmt.Errorf("lists %s: a Vault Agent socket cannot be one of several addresses", quoteShort(a))
		case seen[a]:
			return fmt.Errorf("lists %s twice", quoteShort(a))
		}
		seen[a] = true
		if err := checkOneAddress(a); err != nil {
			return fmt.Errorf("lists %s, which %v", quoteShort(a), err)
		}
	}
	return nil
}

// quoteShort quotes an address for a message, cut to a readable length.
func quoteShort(s string) string { return strconv.Quote(truncate(s, maxAddressText)) }
