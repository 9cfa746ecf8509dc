package config

import (
	"flag"
	"fmt"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// limitFlags registers the bounds on what one SecretProviderClass may ask
// for, shared by the daemon and the offline check so that the check refuses
// what the daemon would.
func limitFlags(fs *flag.FlagSet, l *spc.Limits) func() error {
	d := spc.DefaultLimits()
	flags := []struct {
		v     *int
		name  string
		def   int
		usage string
	}{
		{&l.AttributesBytes, spc.FlagMaxAttributesBytes, d.AttributesBytes, "bytes of one Mount request's attributes (class parameters and the pod's service-account tokens)"},
		{&l.Objects, spc.FlagMaxObjects, d.Objects, "objects in one SecretProviderClass"},
		{&l.YAMLNodes, spc.FlagMaxYAMLNodes, d.YAMLNodes, "YAML nodes of a class's objects after aliases and merge keys are expanded"},
		{&l.SecretArgsBytes, spc.FlagMaxSecretArgsBytes, d.SecretArgsBytes, "bytes of one object's secretArgs, encoded as JSON"},
		{&l.MountBytes, spc.FlagMaxMountBytes, d.MountBytes, "bytes of one mount's files (contents and names); keep it below the driver's gRPC limit (4 MiB unless its --max-call-recv-msg-size is raised)"},
		{&l.TemplateBytes, spc.FlagMaxTemplateBytes, d.TemplateBytes, "bytes of one object's template source"},
		{&l.ResponseBytes, spc.FlagMaxResponseBytes, d.ResponseBytes, "bytes of the Vault responses one mount holds at once (each response is also cut at 8 MiB)"},
		{&l.MountMemory, spc.FlagMaxMountMemory, d.MountMemory, "bytes one mount may hold: everything it parses, reads, decodes, selects, templates and writes, whatever features its class combines"},
		{&l.MountWork, spc.FlagMaxMountWork, d.MountWork, "units of work one mount may do parsing YAML and evaluating templates and jmesPath (about one per byte processed)"},
		{&l.NodeMemory, spc.FlagMaxMemory, d.NodeMemory, "bytes all mounts in flight on the node may hold together; a mount waits for room within its deadline, each namespace in its own line, and one namespace holds at most a quarter (at least " + spc.FlagMaxMountMemory + ")"},
	}
	for _, f := range flags {
		fs.IntVar(f.v, strings.TrimPrefix(f.name, "-"), f.def, f.usage)
	}
	return func() error {
		var problems []string
		for _, f := range flags {
			if *f.v < 1 {
				problems = append(problems, fmt.Sprintf("%s must be 1 or more", f.name))
			}
		}
		if l.NodeMemory < l.MountMemory {
			problems = append(problems, fmt.Sprintf("%s %d must be at least %s %d, or no mount could reach its cap",
				spc.FlagMaxMemory, l.NodeMemory, spc.FlagMaxMountMemory, l.MountMemory))
		}
		return joinProblems(problems)
	}
}
