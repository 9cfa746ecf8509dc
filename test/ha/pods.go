package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// podRequests builds the Mount request of n pods named prefix-NN, each
// with its own service account and token, for a class reaching Vault at
// vaultAddr.
func podRequests(s *seeded, prefix, vaultAddr string, n int) ([]*pb.MountRequest, error) {
	reqs := make([]*pb.MountRequest, n)
	for i := range reqs {
		pod := csitest.Pod{Name: fmt.Sprintf("%s-%02d", prefix, i), Namespace: namespace,
			UID: fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, i)}
		pod.ServiceAccount = "sa-" + pod.Name
		var err error
		if reqs[i], err = podRequest(s, pod, vaultAddr, nil); err != nil {
			return nil, err
		}
	}
	return reqs, nil
}

// podRequest builds pod's Mount request with its own token, for the class
// of the runs with more parameters.
func podRequest(s *seeded, pod csitest.Pod, vaultAddr string, more map[string]string) (*pb.MountRequest, error) {
	jwt, err := s.issuer.ServiceAccountToken(pod.Namespace, pod.ServiceAccount, pod.Name, pod.UID, "vault", time.Hour)
	if err != nil {
		return nil, err
	}
	params := map[string]string{spc.KeyRoleName: role, spc.KeyVaultAddress: vaultAddr,
		spc.KeyAuthMount: "jwt", spc.KeyObjects: objects, "secretProviderClass": "ha"}
	for k, v := range more {
		params[k] = v
	}
	return csitest.Request{Pod: pod, Params: params,
		Tokens: map[string]csitest.Token{"vault": {Token: jwt, Expiration: time.Now().Add(time.Hour)}},
	}.Build()
}

// tally is what the pods of one run saw.
type tally struct {
	mu        sync.Mutex
	mounts    int // Mount calls that answered files, right or wrong
	failed    int
	wrong     int
	successes []time.Time // of the right mounts
	problems  map[string]int
}

func (t *tally) record(at time.Time, mountErr, wrongErr error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case mountErr != nil:
		t.failed++
		t.problems["failed: "+summarise(mountErr)]++
	case wrongErr != nil:
		t.mounts++
		t.wrong++
		t.problems["wrong: "+wrongErr.Error()]++
	default:
		t.mounts++
		t.successes = append(t.successes, at)
	}
}

// tryCount is the count of tries in the note of a failed Vault call.
var tryCount = regexp.MustCompile(`the last of \d+ tries`)

// summarise is a Mount error's code and the start of its message, so
// that alike errors are counted together.
func summarise(err error) string {
	st := status.Convert(err)
	msg := tryCount.ReplaceAllString(st.Message(), "the last of N tries")
	if len(msg) > 240 {
		msg = msg[:240] + "…"
	}
	return st.Code().String() + ": " + msg
}

// longestGap is the longest stretch from start to end without a right
// mount.
func (t *tally) longestGap(start, end time.Time) time.Duration {
	t.mu.Lock()
	times := slices.Clone(t.successes)
	t.mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	gap, prev := time.Duration(0), start
	for _, at := range times {
		if at.Before(start) || at.After(end) {
			continue
		}
		gap, prev = max(gap, at.Sub(prev)), at
	}
	return max(gap, end.Sub(prev))
}

// mountLoop mounts req again and again until stop is closed: after a
// failure it backs off as the kubelet does (from 500 ms, doubling) but
// capped at 2 s; after a success it pauses 20 to 50 ms.
func mountLoop(ctx context.Context, client pb.CSIDriverProviderClient, req *pb.MountRequest, c *checker, t *tally, stop <-chan struct{}) {
	const minBackoff, maxBackoff = 500 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := client.Mount(mctx, req)
		cancel()
		if ctx.Err() != nil {
			return
		}
		var wrong error
		if err == nil {
			wrong = c.check(ctx, resp)
		}
		t.record(time.Now(), err, wrong)
		pause := time.Duration(20+rand.IntN(31)) * time.Millisecond
		if err != nil {
			pause, backoff = backoff, min(2*backoff, maxBackoff)
		} else {
			backoff = minBackoff
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// checker proves a mount's files right: the KV value as written, a
// certificate under the PKI root with its own key, and database
// credentials that log in. Certificates and users are checked once each.
type checker struct {
	s     *seeded
	mu    sync.Mutex
	certs map[[32]byte]error
	users map[string]login
}

// login is a checked user: its password and whether it logged in.
type login struct {
	password string
	err      error
}

func newChecker(s *seeded) *checker {
	return &checker{s: s, certs: map[[32]byte]error{}, users: map[string]login{}}
}

func (c *checker) check(ctx context.Context, resp *pb.MountResponse) error {
	files := map[string][]byte{}
	for _, f := range resp.GetFiles() {
		files[f.GetPath()] = f.GetContents()
	}
	for _, name := range []string{"kv", "tls.crt", "tls.key", "db/username", "db/password"} {
		if _, ok := files[name]; !ok {
			return fmt.Errorf("no file %s", name)
		}
	}
	if string(files["kv"]) != c.s.kvValue {
		return errors.New("kv: not the value written")
	}
	if err := c.checkCert(files["tls.crt"], files["tls.key"]); err != nil {
		return err
	}
	return c.checkUser(ctx, string(files["db/username"]), string(files["db/password"]))
}

func (c *checker) checkCert(crt, key []byte) error {
	sum := sha256.Sum256(append(slices.Clone(crt), key...))
	c.mu.Lock()
	err, seen := c.certs[sum]
	c.mu.Unlock()
	if seen {
		return err
	}
	err = verifyCert(c.s.roots, crt, key)
	c.mu.Lock()
	c.certs[sum] = err
	c.mu.Unlock()
	return err
}

func verifyCert(roots *x509.CertPool, crt, key []byte) error {
	block, _ := pem.Decode(crt)
	if block == nil {
		return errors.New("tls.crt: no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("tls.crt: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "app." + domain}); err != nil {
		return fmt.Errorf("tls.crt: %w", err)
	}
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return fmt.Errorf("tls.key: %w", err)
	}
	return nil
}

// checkUser logs in once per user; the same user with another password is
// wrong.
func (c *checker) checkUser(ctx context.Context, user, password string) error {
	c.mu.Lock()
	known, seen := c.users[user]
	c.mu.Unlock()
	switch {
	case seen && known.password != password:
		return errors.New("db: a known user with another password")
	case seen:
		return known.err
	}
	known = login{password: password}
	if c.s.pg.Login(ctx, user, password) != nil {
		known.err = errors.New("db: the credentials do not log in")
	}
	c.mu.Lock()
	c.users[user] = known
	c.mu.Unlock()
	return known.err
}
