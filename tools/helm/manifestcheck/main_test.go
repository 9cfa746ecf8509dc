package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckStream(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantOut string
		wantErr string
	}{
		{
			name: "valid documents, comments and empty documents",
			in: "# Source: chart/templates/sa.yaml\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  namespace: ns\n" +
				"---\n# only a comment\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: a\n",
			wantOut: "in: 2 objects: 1 DaemonSet, 1 ServiceAccount\n",
		},
		{
			name:    "missing fields are named",
			in:      "apiVersion: v1\nmetadata:\n  name: a\n---\nkind: Role\nmetadata: {}\n",
			wantErr: "document 1 ( \"a\"): no kind\n  document 2 (Role \"\"): no apiVersion, metadata.name",
		},
		{
			name:    "duplicates",
			in:      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n",
			wantErr: "document 2 repeats document 1",
		},
		{
			name:    "nothing",
			in:      "# nothing\n",
			wantErr: "no documents",
		},
		{
			name:    "not YAML",
			in:      "apiVersion: [\n",
			wantErr: "document 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := checkStream("in", strings.NewReader(tt.in), &out)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if out.String() != tt.wantOut {
					t.Errorf("output %q, want %q", out.String(), tt.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
