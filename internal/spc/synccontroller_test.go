package spc

import "testing"

func TestFromSyncController(t *testing.T) {
	pod := map[string]string{KeyPodName: "ssc-0", KeyPodNamespace: "shop", KeyPodUID: "uid-1", KeyServiceAccount: "app"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range pod {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		attrs map[string]string
		want  bool
	}{
		{"the controller: pod keys only", with(nil), true},
		{"the driver: class and ephemeral", with(map[string]string{KeySecretProviderClass: "app", KeyEphemeral: "false"}), false},
		{"the driver: class only", with(map[string]string{KeySecretProviderClass: "app"}), false},
		{"the driver: ephemeral only", with(map[string]string{KeyEphemeral: "true"}), false},
		{"no pod at all (offline check)", map[string]string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromSyncController(tt.attrs); got != tt.want {
				t.Errorf("FromSyncController = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestSyncable(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"password", true},
		{"tls.crt", true},
		{"cert/1", true},
		{"cert/1/2", true},
		{"db-password", true},
		{"db_password", true},
		{".env", true},
		{"a_b", false}, // the CRD's pattern: a lone character before "_"
		{"-leading", false},
		{"trailing_", false},
		{"a b", false},
		{"db/password", false},
		{"a/b/c", false},
		{"cert/1a", false},
		{"cert/", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Syncable(tt.path); got != tt.want {
			t.Errorf("Syncable(%q) = %t, want %t", tt.path, got, tt.want)
		}
	}
}
