package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
)

// secretProviderClass is the part of the Kubernetes object the check reads.
type secretProviderClass struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Provider   string            `yaml:"provider"`
		Parameters map[string]string `yaml:"parameters"`
	} `yaml:"spec"`
}

// readSPC reads the one SecretProviderClass in a (possibly multi-document)
// manifest; other kinds, such as the pod, are skipped.
func readSPC(path string) (*secretProviderClass, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var found []*secretProviderClass
	for {
		var doc secretProviderClass
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if doc.Kind == "SecretProviderClass" {
			found = append(found, &doc)
		}
	}
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("%s holds no SecretProviderClass", path)
	case len(found) > 1:
		return nil, fmt.Errorf("%s holds %d SecretProviderClasses: put the one to check in a file of its own", path, len(found))
	}
	spc := found[0]
	if spc.Spec.Provider != mount.ProviderName {
		return nil, fmt.Errorf("%s: spec.provider is %q; this provider serves %q", path, spc.Spec.Provider, mount.ProviderName)
	}
	return spc, nil
}
