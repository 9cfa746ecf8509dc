package main

import (
	"bufio"
	"flag"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// The reference in docs/ documents what the code accepts, and nothing else.
//
// A name is documented by a Markdown table row whose first cell is that name
// alone in backticks, "| `-vault-addr` | …" or "| `roleName` | …", and
// belongs to the section of the nearest heading above the row. Rows inside
// fenced code blocks are ignored.

// TestDocsNameEveryFlag: docs/flags.md's "# Flags" table has a row for every
// flag of the daemon's flag set (config.ServeFlags, what ParseServe parses)
// and no other.
func TestDocsNameEveryFlag(t *testing.T) {
	fs, _ := config.ServeFlags(func(string) string { return "" }, io.Discard)
	var flags []string
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, "-"+f.Name) })
	documented := docTables(t, "../../docs/flags.md")["# Flags"]
	compareDocumented(t, "docs/flags.md, # Flags", "flag", flags, documented)
}

// TestDocsNameEveryParameter: docs/parameters.md documents every
// SecretProviderClass parameter the parser reads (spc.ClassParameters) in the
// table of "# SecretProviderClass parameters", and every object field
// (spc.ObjectFields) in the table of "## Objects"; no other.
func TestDocsNameEveryParameter(t *testing.T) {
	tables := docTables(t, "../../docs/parameters.md")
	compareDocumented(t, "docs/parameters.md, # SecretProviderClass parameters", "parameter",
		spc.ClassParameters, tables["# SecretProviderClass parameters"])
	compareDocumented(t, "docs/parameters.md, ## Objects", "object field",
		spc.ObjectFields(), tables["## Objects"])
}

// docRow matches a table row whose first cell is one name in backticks.
var docRow = regexp.MustCompile("^\\| `([^`|]+)` \\|")

// docTables returns the names documented in a Markdown file by heading (the
// heading line as written, e.g. "## Objects").
func docTables(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string][]string{}
	heading, fenced := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			fenced = !fenced
		case fenced:
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(line)
		default:
			if m := docRow.FindStringSubmatch(line); m != nil {
				names[heading] = append(names[heading], m[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// compareDocumented reports what the code has and the doc lacks, what the
// doc has and the code lacks, and names documented twice.
func compareDocumented(t *testing.T, doc, kind string, code, documented []string) {
	t.Helper()
	if len(documented) == 0 {
		t.Fatalf("%s: no table rows found (a row starts with \"| `name` |\")", doc)
	}
	for _, n := range code {
		if !slices.Contains(documented, n) {
			t.Errorf("%s %s is not documented: add a row \"| `%s` | … |\" to %s", kind, n, n, doc)
		}
	}
	seen := map[string]bool{}
	for _, n := range documented {
		if !slices.Contains(code, n) {
			t.Errorf("%s documents %s %s, which the code does not accept: remove its row", doc, kind, n)
		}
		if seen[n] {
			t.Errorf("%s documents %s %s twice: keep one row", doc, kind, n)
		}
		seen[n] = true
	}
}
