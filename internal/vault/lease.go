package vault

import (
	"context"
	"net/http"
	"time"
)

// Renewal is what Vault granted when renewing a lease.
type Renewal struct {
	TTL       time.Duration
	Renewable bool
}

// RenewLease asks Vault to extend leaseID by increment (PUT
// sys/leases/renew, allowed by Vault's default policy). Vault may grant
// less than asked, down to what is left before the lease's max TTL.
func (c *Client) RenewLease(ctx context.Context, token, leaseID string, increment time.Duration) (Renewal, error) {
	req := Request{
		Method: http.MethodPut,
		Path:   "sys/leases/renew",
		Body:   map[string]any{"lease_id": leaseID, "increment": int(increment.Seconds())},
	}
	s, err := c.call(ctx, callRenew, token, req, token)
	if err != nil {
		return Renewal{}, err
	}
	return Renewal{TTL: time.Duration(s.LeaseDuration) * time.Second, Renewable: s.Renewable}, nil
}

// RevokeSelf revokes token, and with it every lease it created (POST
// auth/token/revoke-self). A token that is already gone answers 403, which
// is reported like any denial.
func (c *Client) RevokeSelf(ctx context.Context, token string) error {
	_, err := c.call(ctx, callRevoke, token, Request{Method: http.MethodPost, Path: "auth/token/revoke-self"}, token)
	return err
}
