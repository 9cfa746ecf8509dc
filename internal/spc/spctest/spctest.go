// Package spctest builds hostile SecretProviderClass input for the tests
// of the packages that parse or mount classes.
package spctest

import (
	"fmt"
	"strings"
)

// YAMLBomb is the anchor bomb of issue 8 in 9.6 KB: the first object's
// secretArgs expand nested aliases of single-item maps to about 394,000
// values, just under yaml.v3's own check of each decode (4,500 plain values
// first keep the share of aliased ones below its 99%), with the anchors
// defined in a field that is never decoded; repeat-1 more list items alias
// that object, and each is decoded again. Today's main grows to 1.7 GiB on
// it with 40 objects.
func YAMLBomb(repeat int) string {
	var b strings.Builder
	b.WriteString("- &o\n  objectName: cert.pem\n  secretPath: pki/issue/web\n  method: POST\n  defs:\n    l0: &l0 {k: v}\n")
	for l := 1; l < 4; l++ {
		fmt.Fprintf(&b, "    l%d: &l%d [%s]\n", l, l, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", l-1), 20), ","))
	}
	fmt.Fprintf(&b, "  secretArgs:\n    pad: [%s]\n", strings.TrimSuffix(strings.Repeat("x,", 4500), ","))
	fmt.Fprintf(&b, "    a: [%s]\n", strings.TrimSuffix(strings.Repeat("*l3,", 12), ","))
	for range repeat - 1 {
		b.WriteString("- *o\n")
	}
	return b.String()
}
