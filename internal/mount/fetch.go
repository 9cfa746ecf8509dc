package mount

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// fetchObjects reads every object's secret, returned in the order of objs.
// Identical requests (same method, path, query and arguments) are sent once,
// so a certificate and its key taken from one pki/issue call belong
// together. The first failure cancels the rest.
func fetchObjects(ctx context.Context, c *vault.Client, token string, objs []Object, limit int) ([]*api.Secret, error) {
	keys := make([]string, len(objs))
	unique := map[string]int{} // request key -> index of the first object
	for i, obj := range objs {
		k, err := requestKey(obj)
		if err != nil {
			return nil, fmt.Errorf("object %q: %w", obj.Name, err)
		}
		keys[i] = k
		if _, ok := unique[k]; !ok {
			unique[k] = i
		}
	}

	results := make([]*api.Secret, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, i := range unique {
		obj := objs[i]
		g.Go(func() error {
			s, err := c.Read(gctx, token, vault.Request{Method: obj.Method, Path: obj.Path, Query: obj.Query, Body: obj.Args})
			if err != nil {
				return fmt.Errorf("object %q: %w", obj.Name, err)
			}
			results[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, k := range keys {
		results[i] = results[unique[k]]
	}
	return results, nil
}

// identity names what an object is, for its version: the file and the
// request it is read with.
func (obj Object) identity() string {
	k, _ := requestKey(obj)
	return obj.Name + "\x00" + obj.Key + "\x00" + string(obj.Encoding) + "\x00" + k
}

// requestKey identifies a Vault request; json.Marshal sorts map keys and
// url.Values.Encode sorts parameters, so equal requests give equal keys.
func requestKey(obj Object) (string, error) {
	args, err := json.Marshal(obj.Args)
	if err != nil {
		return "", fmt.Errorf("secretArgs cannot be sent as JSON: %w", err)
	}
	return strings.Join([]string{obj.Method, obj.Path, obj.Query.Encode(), string(args)}, "\x00"), nil
}
