package spc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// Limits bound what one SecretProviderClass may make the provider do, so
// that a class written by one tenant cannot exhaust the node's provider.
// They are node-wide: a class cannot raise them. A zero field takes its
// default (DefaultLimits).
type Limits struct {
	// AttributesBytes bounds the JSON attributes of one Mount request: the
	// class's parameters plus the driver's keys, service-account tokens
	// included. Checked before anything is decoded.
	AttributesBytes int
	// Objects bounds the objects of one class.
	Objects int
	// YAMLNodes bounds the nodes of the objects document after every alias
	// and merge key is expanded: aliases let a few KB stand for gigabytes.
	YAMLNodes int
	// SecretArgsBytes bounds one object's secretArgs, encoded as JSON.
	SecretArgsBytes int
	// MountBytes bounds one mount's response: the files' contents and
	// names. It must stay below what the driver's gRPC client accepts
	// (4 MiB unless its --max-call-recv-msg-size is raised).
	MountBytes int
	// TemplateBytes bounds one template's source.
	TemplateBytes int
	// ResponseBytes bounds the Vault responses one mount holds at once,
	// counted as their bodies' bytes.
	ResponseBytes int
	// MountMemory and MountWork cap the mount's account (package account):
	// every byte it makes or keeps and every unit of work it does, whatever
	// features the class combines. The limits above remain for their clear
	// messages; these keep the node safe.
	MountMemory int
	MountWork   int
	// NodeMemory caps the bytes of all the accounts in flight on the node.
	NodeMemory int
}

// Flag names, for messages that tell the operator what to raise.
const (
	FlagMaxMountMemory     = account.FlagMountMemory
	FlagMaxMountWork       = account.FlagMountWork
	FlagMaxMemory          = account.FlagNodeMemory
	FlagMaxAttributesBytes = "-max-attributes-bytes"
	FlagMaxObjects         = "-max-objects"
	FlagMaxYAMLNodes       = "-max-yaml-nodes"
	FlagMaxSecretArgsBytes = "-max-secret-args-bytes"
	FlagMaxMountBytes      = "-max-mount-bytes"
	FlagMaxTemplateBytes   = "-max-template-bytes"
	FlagMaxResponseBytes   = "-max-response-bytes"
)

// DefaultLimits are generous for real classes and keep a hostile one far
// below the DaemonSet's 256 MiB memory limit, even with several parsed at
// once.
func DefaultLimits() Limits {
	return Limits{
		// Tokens for a few audiences take a few KiB; the rest is the class.
		AttributesBytes: 1 << 20,
		// A volume holds a handful of files; 256 is far above real classes
		// and still bounds the Vault requests one mount makes.
		Objects: 256,
		// 256 objects of every field and a dozen secretArgs fields each
		// take about 10,000 nodes; decoding 50,000 costs a few MiB.
		YAMLNodes: 50_000,
		// A CSR or a policy document fits many times over.
		SecretArgsBytes: 64 << 10,
		// 4 MiB less half a MiB for the protobuf framing and object
		// versions.
		MountBytes: 3584 << 10,
		// A config file of a few hundred lines.
		TemplateBytes: 64 << 10,
		// Real mounts read kilobytes; this still lets a few secrets of
		// several MiB through (each response is cut at 8 MiB anyway).
		ResponseBytes: 32 << 20,
		MountMemory:   int(account.DefaultLimits().Bytes),
		MountWork:     int(account.DefaultLimits().Work),
		NodeMemory:    int(account.DefaultPoolLimits().Bytes),
	}
}

// OrDefault fills the zero fields of l with the defaults.
func (l Limits) OrDefault() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.AttributesBytes, &d.AttributesBytes},
		{&l.Objects, &d.Objects},
		{&l.YAMLNodes, &d.YAMLNodes},
		{&l.SecretArgsBytes, &d.SecretArgsBytes},
		{&l.MountBytes, &d.MountBytes},
		{&l.TemplateBytes, &d.TemplateBytes},
		{&l.ResponseBytes, &d.ResponseBytes},
		{&l.MountMemory, &d.MountMemory},
		{&l.MountWork, &d.MountWork},
		{&l.NodeMemory, &d.NodeMemory},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return l
}

// countNodes counts the nodes of the tree at root as a decoder expanding
// every alias would see them: an alias is charged its target's whole size
// each time it is used. It stops as soon as the count passes budget, so
// that its own work is bounded too (an alias cycle just spends the budget).
// It walks with an explicit stack: a deep document cannot grow the goroutine
// stack.
func countNodes(root *yaml.Node, budget int) (n int, within bool) {
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		node := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if node == nil {
			continue
		}
		if n++; n > budget {
			return n, false
		}
		if node.Kind == yaml.AliasNode {
			stack = append(stack, node.Alias)
			continue
		}
		stack = append(stack, node.Content...)
	}
	return n, true
}

// controlChar returns a description of the first control character in s
// that allow does not accept, or "" if there is none. The description names
// the character and its byte offset, never the value around it.
func controlChar(s string, allow func(rune) bool) string {
	for i, r := range s {
		if r == utf8.RuneError {
			continue
		}
		if unicode.IsControl(r) && (allow == nil || !allow(r)) {
			return fmt.Sprintf("a control character (%U at byte %d)", r, i)
		}
	}
	return ""
}

// textControl accepts the line breaks and tabs of multi-line text, such as
// a PEM certificate signing request sent in secretArgs.
func textControl(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }

// Bounds of what a ParamsError prints: the driver logs it and records it in
// Kubernetes events, and it must stay readable.
const (
	maxListedProblems = 20
	maxProblemBytes   = 512
	MaxErrorBytes     = 4 << 10
	maxQuotedBytes    = 64
)

// Quote quotes a value written in the class for a message, shortened to
// about maxQuotedBytes of output (escapes included): a value may be up to
// the attributes' size.
func Quote(s string) string {
	if len(s) <= maxQuotedBytes {
		if q := strconv.Quote(s); len(q) <= maxQuotedBytes+2 {
			return q
		}
	}
	cut := min(len(s), maxQuotedBytes)
	q := ""
	for {
		cut = runeStart(s, cut)
		if q = strconv.Quote(s[:cut]); len(q) <= maxQuotedBytes+2 || cut == 0 {
			break
		}
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", q, len(s))
}

// plain shows a short value of plain text as it is (a number, a word),
// anything else quoted and shortened.
func plain(s string) string {
	if len(s) <= maxQuotedBytes && controlChar(s, nil) == "" && !strings.ContainsRune(s, utf8.RuneError) {
		return s
	}
	return Quote(s)
}

// Truncate shortens msg to at most n bytes, on a rune boundary, marking the
// cut.
func Truncate(msg string, n int) string {
	if len(msg) <= n {
		return msg
	}
	const mark = "..."
	return msg[:runeStart(msg, n-len(mark))] + mark
}

// runeStart moves i back to the start of the rune it falls in, if s is
// valid UTF-8 there; invalid bytes are cut anywhere.
func runeStart(s string, i int) int {
	for back := 0; back < utf8.UTFMax-1 && i > 0 && i < len(s) && !utf8.RuneStart(s[i]); back++ {
		i--
	}
	return i
}

// joinBounded joins the first problems, each truncated, and says how many
// were left out (more counts those not even kept), within MaxErrorBytes.
func joinBounded(probs []string, more int) string {
	var b strings.Builder
	listed := 0
	for _, p := range probs {
		p = Truncate(p, maxProblemBytes)
		// Room for "; " and the "and N more" tail.
		if listed == maxListedProblems || b.Len()+len(p)+64 > MaxErrorBytes {
			break
		}
		if listed > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p)
		listed++
	}
	if more += len(probs) - listed; more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}
