// Command manifestcheck reads multi-document Kubernetes YAML (files named as
// arguments, or stdin) and fails unless every document has an apiVersion, a
// kind and a metadata.name, and no object appears twice. It needs no
// cluster: `make deploy-check` runs it on the rendered chart and kustomize
// base, where `kubectl apply --dry-run=client` would need an API server.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "manifestcheck:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return checkStream("stdin", stdin, stdout)
	}
	var errs []error
	for _, name := range args {
		f, err := os.Open(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, checkStream(name, f, stdout))
		f.Close()
	}
	return errors.Join(errs...)
}

// object is the part of a manifest every Kubernetes object has.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// checkStream checks every document of r and prints one summary line.
func checkStream(name string, r io.Reader, stdout io.Writer) error {
	reader := yaml.NewYAMLReader(bufio.NewReader(r))
	var problems []string
	seen := map[string]int{}
	kinds := map[string]int{}
	docs := 0
	for n := 1; ; n++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, n, err)
		}
		if isBlank(raw) {
			continue
		}
		var obj object
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			problems = append(problems, fmt.Sprintf("document %d: %v", n, err))
			continue
		}
		docs++
		var missing []string
		if obj.APIVersion == "" {
			missing = append(missing, "apiVersion")
		}
		if obj.Kind == "" {
			missing = append(missing, "kind")
		}
		if obj.Metadata.Name == "" {
			missing = append(missing, "metadata.name")
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("document %d (%s %q): no %s",
				n, obj.Kind, obj.Metadata.Name, strings.Join(missing, ", ")))
			continue
		}
		id := fmt.Sprintf("%s %s %s/%s", obj.APIVersion, obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name)
		if first, dup := seen[id]; dup {
			problems = append(problems, fmt.Sprintf("document %d repeats document %d: %s", n, first, id))
		}
		seen[id] = n
		kinds[obj.Kind]++
	}
	if docs == 0 {
		problems = append(problems, "no documents")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s:\n  %s", name, strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(stdout, "%s: %d objects: %s\n", name, docs, summary(kinds))
	return nil
}

// isBlank reports whether a document holds only comments and whitespace.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

func summary(kinds map[string]int) string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%d %s", kinds[k], k)
	}
	return strings.Join(parts, ", ")
}
