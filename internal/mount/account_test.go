package mount

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/account/accounttest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// renderSlack is what rendering may allocate beyond its charges: the
// per-call bookkeeping (maps of values, lists of sizes, errors) that no
// class can grow.
const renderSlack = 64 << 10

// TestRenderChargesWhatItAllocates drives every rendering feature over large
// secrets with accounts from tiny to ample, and checks that a render either
// fails with the account's refusal or allocated no more than it was charged:
// no feature lets memory through uncharged.
func TestRenderChargesWhatItAllocates(t *testing.T) {
	big := strings.Repeat("s3cr3t<&>\n", 20_000)
	many := map[string]any{}
	for i := range 5_000 {
		many[fmt.Sprintf("key-%05d", i)] = strings.Repeat("v", i%64)
	}
	var list strings.Builder
	list.WriteString(`[`)
	for i := range 20_000 {
		if i > 0 {
			list.WriteString(",")
		}
		fmt.Fprintf(&list, `{"n":%d,"s":"x%d"}`, i, i)
	}
	list.WriteString(`]`)
	data := map[string]any{"data": map[string]any{
		"big": big, "b64": base64.StdEncoding.EncodeToString([]byte(big)), "list": list.String(),
	}}
	classes := map[string]string{
		"whole response": "- objectName: w\n  secretPath: secret/data/x\n",
		"whole data":     "- objectName: w\n  secretPath: secret/data/x\n  jsonShape: data\n",
		"key":            "- objectName: k\n  secretPath: secret/data/x\n  secretKey: big\n",
		"base64":         "- objectName: k\n  secretPath: secret/data/x\n  secretKey: b64\n  encoding: base64\n",
		"jmesPath":       "- objectName: j\n  secretPath: secret/data/x\n  secretKey: list\n  jmesPath: \"[?n > `10`].s\"\n",
		"jmesPath join":  "- objectName: j\n  secretPath: secret/data/x\n  secretKey: list\n  jmesPath: \"join(',', [*].s)\"\n",
		"jmesPath sort":  "- objectName: j\n  secretPath: secret/data/x\n  secretKey: list\n  jmesPath: \"sort([*].n)\"\n",
		"to_string":      "- objectName: j\n  secretPath: secret/data/x\n  secretKey: list\n  jmesPath: to_string(@)\n",
		"keysAsFiles":    "- objectName: m\n  secretPath: secret/many\n  keysAsFiles: true\n",
		"template": "- objectName: k\n  secretPath: secret/data/x\n  secretKey: big\n  templateOnly: true\n" +
			"- objectName: t\n  template: '{{ range $i := until 4 }}{{ $.k | upper }}{{ end }}'\n",
		"template over a map": "- objectName: m\n  secretPath: secret/many\n  templateOnly: true\n" +
			"- objectName: t\n  template: '{{ range $k, $v := .m.data }}{{ $k }}={{ $v | b64enc }}{{ end }}'\n",
	}
	for name, objects := range classes {
		t.Run(name, func(t *testing.T) {
			attrs := map[string]string{spc.KeyRoleName: "r", spc.KeyObjects: objects,
				spc.KeyPodName: "p", spc.KeyPodNamespace: "ns", spc.KeyPodUID: "u", spc.KeyServiceAccount: "sa"}
			p, err := spc.ParseParams(nil, attrs, spc.Defaults{Vault: vault.Config{Address: "https://vault.example:8200"}, AuthMount: "kubernetes", Audience: "vault"})
			if err != nil {
				t.Fatal(err)
			}
			got := responses{}
			for _, r := range p.Plan.Requests {
				d := data
				if r.Path == "secret/many" {
					d = many
				}
				got[r] = &api.Secret{Data: d, LeaseDuration: 0}
			}
			succeeded := false
			for limit := int64(1 << 10); limit <= 256<<20 && !succeeded; limit *= 4 {
				acct := account.New(context.Background(), account.Limits{Bytes: limit})
				var rerr error
				allocated := accounttest.Allocated(func() {
					_, rerr = render(context.Background(), acct, p.Plan, got, 64<<20)
				})
				charged, _ := acct.Used()
				switch {
				case errors.Is(rerr, account.ErrExhausted):
				case rerr != nil:
					t.Fatalf("cap %d: %v", limit, rerr)
				default:
					succeeded = true
					t.Logf("cap %d: allocated %d, charged %d", limit, allocated, charged)
				}
				if allocated > charged+renderSlack {
					t.Errorf("cap %d (err %v): allocated %d bytes, charged only %d", limit, rerr, allocated, charged)
				}
			}
			if !succeeded {
				t.Fatal("no cap let the render through")
			}
		})
	}
}
