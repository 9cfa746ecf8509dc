package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"text/template"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// Vault's /v1/sys/health answers by a node's state.
const (
	healthActive  = http.StatusOK
	healthStandby = http.StatusTooManyRequests
)

// node is one Vault server of the raft cluster. Restarting it starts the
// same configuration again: it rejoins and unseals itself through transit.
type node struct {
	id   string
	addr string // http://127.0.0.1:PORT, its API
	// tapAddr is where its tap listens, and its api_addr: what a standby
	// redirects clients to goes through the tap too.
	tapAddr string
	config  string
	logPath string
	bin     string

	mu   sync.Mutex
	proc *vaulttest.Proc // nil while stopped
}

func (n *node) start() error {
	p, err := vaulttest.StartProc(n.bin, []string{"server", "-config", n.config}, n.logPath)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	return nil
}

// running reports whether the node's process is started and alive.
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && n.proc.Alive()
}

// halt ends the node by PID: SIGKILL when kill, else SIGTERM.
func (n *node) halt(kill bool) {
	n.mu.Lock()
	p := n.proc
	n.proc = nil
	n.mu.Unlock()
	switch {
	case p == nil:
	case kill:
		p.Kill()
	default:
		p.Stop()
	}
}

// transit is the dev server whose transit engine auto-unseals the cluster.
type transit struct {
	server *vaulttest.Server
	token  string // may only encrypt and decrypt with the key
}

const transitKey = "autounseal"

func startTransit(ctx context.Context, bin, dir string) (*transit, error) {
	s, err := vaulttest.Start(ctx, bin, filepath.Join(dir, "transit.log"))
	if err != nil {
		return nil, err
	}
	t := &transit{server: s}
	if err := t.seed(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return t, nil
}

func (t *transit) seed(ctx context.Context) error {
	if err := t.server.Mount(ctx, "transit", "transit", nil); err != nil {
		return err
	}
	if _, err := t.server.Write(ctx, "transit/keys/"+transitKey, nil); err != nil {
		return err
	}
	if err := t.server.WritePolicy(ctx, "autounseal", `
path "transit/encrypt/`+transitKey+`" { capabilities = ["update"] }
path "transit/decrypt/`+transitKey+`" { capabilities = ["update"] }
`); err != nil {
		return err
	}
	// No default policy, so no renewal either: the seal is told not to
	// renew, and the token outlives any run.
	secret, err := t.server.API().Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
		Policies: []string{"autounseal"}, NoDefaultPolicy: true, TTL: "24h",
	})
	if err != nil {
		return fmt.Errorf("transit token: %w", err)
	}
	t.token = secret.Auth.ClientToken
	return nil
}

// nodeConfig is one node's server configuration.
type nodeConfig struct {
	ID, Data            string
	API, Cluster        int
	Peers               []int // the other nodes' API ports, to join
	TapAddr             string
	Transit, Token, Key string
}

var configTemplate = template.Must(template.New("hcl").Parse(`storage "raft" {
  path = "{{.Data}}"
  node_id = "{{.ID}}"
  performance_multiplier = 1
{{- range .Peers}}
  retry_join { leader_api_addr = "http://127.0.0.1:{{.}}" }
{{- end}}
}
listener "tcp" {
  address = "127.0.0.1:{{.API}}"
  cluster_address = "127.0.0.1:{{.Cluster}}"
  tls_disable = true
}
api_addr = "http://{{.TapAddr}}"
cluster_addr = "https://127.0.0.1:{{.Cluster}}"
disable_mlock = true
seal "transit" {
  address = "{{.Transit}}"
  token = "{{.Token}}"
  key_name = "{{.Key}}"
  mount_path = "transit/"
  disable_renewal = "true"
}
`))

// write renders the configuration to path and makes the node's data
// directory.
func (c nodeConfig) write(path string) error {
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, c); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// cluster is three raft nodes with transit auto-unseal.
type cluster struct {
	nodes  []*node
	root   string             // root token from the initialisation
	admins []*vaulttest.Admin // a root client per node
}

// startCluster writes each node's configuration, starts the three nodes,
// initialises the first and waits for three voters, all unsealed.
func startCluster(ctx context.Context, bin, dir string, t *transit) (*cluster, error) {
	const n = 3
	type ports struct{ api, cluster, tap int }
	ps := make([]ports, n)
	for i := range ps {
		for _, p := range []*int{&ps[i].api, &ps[i].cluster, &ps[i].tap} {
			var err error
			if *p, err = vaulttest.FreePort(); err != nil {
				return nil, err
			}
		}
	}
	c := &cluster{}
	for i := range n {
		id := "vault-" + strconv.Itoa(i)
		nd := &node{id: id, addr: "http://127.0.0.1:" + strconv.Itoa(ps[i].api), tapAddr: "127.0.0.1:" + strconv.Itoa(ps[i].tap),
			config: filepath.Join(dir, id+".hcl"), logPath: filepath.Join(dir, id+".log"), bin: bin}
		cfg := nodeConfig{ID: id, Data: filepath.Join(dir, id), API: ps[i].api, Cluster: ps[i].cluster, TapAddr: nd.tapAddr,
			Transit: t.server.Addr, Token: t.token, Key: transitKey}
		for j := range n {
			if j != i {
				cfg.Peers = append(cfg.Peers, ps[j].api)
			}
		}
		if err := cfg.write(nd.config); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		if err := nd.start(); err != nil {
			c.stop()
			return nil, err
		}
	}
	if err := c.initialise(ctx); err != nil {
		err = fmt.Errorf("%w\n%s", err, c.logTails())
		c.stop()
		return nil, err
	}
	return c, nil
}

// initialise inits the first node (recovery keys, as with auto-unseal),
// shortens autopilot's stabilisation so the joiners become voters quickly,
// and waits until all three are voters and unsealed.
func (c *cluster) initialise(ctx context.Context) error {
	first := c.nodes[0]
	if err := c.waitHealth(ctx, 0, 30*time.Second, "answering", func(code int) bool { return code != 0 }); err != nil {
		return err
	}
	client, err := vaulttest.NewAdmin(first.addr, "")
	if err != nil {
		return err
	}
	resp, err := client.API().Sys().InitWithContext(ctx, &api.InitRequest{RecoveryShares: 1, RecoveryThreshold: 1})
	if err != nil {
		return fmt.Errorf("init %s: %w", first.id, err)
	}
	c.root = resp.RootToken
	for _, nd := range c.nodes {
		a, err := vaulttest.NewAdmin(nd.addr, c.root)
		if err != nil {
			return err
		}
		c.admins = append(c.admins, a)
	}
	if err := c.waitHealth(ctx, 0, 30*time.Second, "active", func(code int) bool { return code == healthActive }); err != nil {
		return err
	}
	if _, err := c.admins[0].Write(ctx, "sys/storage/raft/autopilot/configuration", map[string]any{
		"server_stabilization_time": "1s", "cleanup_dead_servers": false,
	}); err != nil {
		return err
	}
	return c.waitAll(ctx, 60*time.Second)
}

// waitAll waits until the raft configuration lists three voters and every
// node is unsealed (active or standby).
func (c *cluster) waitAll(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("cluster not whole (3 voters, all unsealed) after %s", timeout))
	defer cancel()
	return csitest.WaitFor(ctx, 100*time.Millisecond, func() (bool, error) {
		for i := range c.nodes {
			if code := health(ctx, c.nodes[i].addr); code != healthActive && code != healthStandby {
				return false, nil
			}
		}
		return c.voters(ctx) == len(c.nodes), nil
	})
}

// voters counts the voters in the raft configuration, asked of the active
// node (0 when there is none).
func (c *cluster) voters(ctx context.Context) int {
	i := c.active(ctx)
	if i < 0 {
		return 0
	}
	s, err := c.admins[i].API().Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
	if err != nil || s == nil {
		return 0
	}
	cfg, _ := s.Data["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	n := 0
	for _, srv := range servers {
		if m, _ := srv.(map[string]any); m["voter"] == true {
			n++
		}
	}
	return n
}

// active is the index of the node answering health 200, or -1.
func (c *cluster) active(ctx context.Context) int {
	for i, nd := range c.nodes {
		if health(ctx, nd.addr) == healthActive {
			return i
		}
	}
	return -1
}

// waitHealth waits until node i's health code satisfies ok.
func (c *cluster) waitHealth(ctx context.Context, i int, timeout time.Duration, what string, ok func(int) bool) error {
	nd := c.nodes[i]
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%s not %s after %s", nd.id, what, timeout))
	defer cancel()
	return csitest.WaitFor(ctx, 50*time.Millisecond, func() (bool, error) {
		if !nd.running() {
			return false, fmt.Errorf("%s exited", nd.id)
		}
		return ok(health(ctx, nd.addr)), nil
	})
}

// stop ends every node by PID.
func (c *cluster) stop() {
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Go(func() { nd.halt(false) })
	}
	wg.Wait()
}

// logTails is the end of every node's log, for a failure.
func (c *cluster) logTails() string {
	var errs []error
	for _, nd := range c.nodes {
		errs = append(errs, fmt.Errorf("%s log (%s):\n%s", nd.id, nd.logPath, vaulttest.LogTail(nd.logPath, 15)))
	}
	return errors.Join(errs...).Error()
}

// health is the status of GET /v1/sys/health on addr, 0 when it does not
// answer within 250 ms.
func health(ctx context.Context, addr string) int {
	ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/sys/health", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
