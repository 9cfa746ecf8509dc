{{/*
The release's full name: the release name, with the chart name appended
unless the release name already contains it; 63 characters at most (a label
value's limit).
*/}}
{{- define "vault-csi-provider.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels selecting the provider's pods: never change between upgrades. */}}
{{- define "vault-csi-provider.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "vault-csi-provider.labels" -}}
{{ include "vault-csi-provider.selectorLabels" . }}
app.kubernetes.io/version: {{ include "vault-csi-provider.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "vault-csi-provider.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vault-csi-provider.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vault-csi-provider.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/*
The socket's name. The driver connects to <provider name>.sock in its
provider directory, and the provider's name is vault: not a value.
*/}}
{{- define "vault-csi-provider.socketName" -}}vault.sock{{- end -}}

{{/*
Where the provider listens, in its container: in a directory of its own
(vault/, made by the prepare-dir init container, which links vault.sock to
it) with socketDir.prepare, else in the provider directory itself.
*/}}
{{- define "vault-csi-provider.endpoint" -}}
{{- if .Values.socketDir.prepare -}}
/provider/vault/{{ include "vault-csi-provider.socketName" . }}
{{- else -}}
/provider/{{ include "vault-csi-provider.socketName" . }}
{{- end -}}
{{- end -}}

{{/*
The provider's user and group (the container's securityContext, else the
pod's, else the image's 65532): the owner prepare-dir gives its directory.
*/}}
{{- define "vault-csi-provider.runAs" -}}
{{- $pod := .Values.podSecurityContext | default dict -}}
{{- $ctr := .Values.securityContext | default dict -}}
{{- $uid := 65532 -}}
{{- if hasKey $pod "runAsUser" }}{{ if not (kindIs "invalid" $pod.runAsUser) }}{{ $uid = $pod.runAsUser }}{{ end }}{{ end -}}
{{- if hasKey $ctr "runAsUser" }}{{ if not (kindIs "invalid" $ctr.runAsUser) }}{{ $uid = $ctr.runAsUser }}{{ end }}{{ end -}}
{{- $gid := 65532 -}}
{{- if hasKey $pod "runAsGroup" }}{{ if not (kindIs "invalid" $pod.runAsGroup) }}{{ $gid = $pod.runAsGroup }}{{ end }}{{ end -}}
{{- if hasKey $ctr "runAsGroup" }}{{ if not (kindIs "invalid" $ctr.runAsGroup) }}{{ $gid = $ctr.runAsGroup }}{{ end }}{{ end -}}
-uid={{ int64 $uid }} -gid={{ int64 $gid }}
{{- end -}}

{{/* Where the Vault CA Secret is mounted in the container. */}}
{{- define "vault-csi-provider.caDir" -}}/vault/tls{{- end -}}

{{/* Where the policy ConfigMap is mounted. */}}
{{- define "vault-csi-provider.policyDir" -}}/etc/vault-csi-provider/policy{{- end -}}

{{/*
The node policy file: the values' policy, with vault.address's addresses
as vaultAddresses unless the values list some.
*/}}
{{- define "vault-csi-provider.policy" -}}
{{- $p := dict -}}
{{- $addrs := .Values.policy.vaultAddresses -}}
{{- if not $addrs }}
{{- $addrs = list -}}
{{- range splitList "," .Values.vault.address }}
{{- $addrs = append $addrs (trim .) -}}
{{- end }}
{{- end }}
{{- $_ := set $p "vaultAddresses" $addrs -}}
{{- with .Values.policy.classMayNotSet }}
{{- $_ := set $p "classMayNotSet" . -}}
{{- end }}
{{- with .Values.policy.rules }}
{{- $_ := set $p "rules" . -}}
{{- end }}
{{- $_ := set $p "default" (.Values.policy.default | default dict) -}}
{{- toYaml $p -}}
{{- end -}}

{{/*
Whether some rule of the policy may match namespaces by label: a policy
file is not read here, so with one the provider may always watch.
*/}}
{{- define "vault-csi-provider.policyLabels" -}}
{{- if .Values.policy.enabled }}
{{- if .Values.policy.file }}true{{ end }}
{{- range .Values.policy.rules }}
{{- if and .namespaces .namespaces.labels }}true{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The provider's flags, one quoted list item each. */}}
{{- define "vault-csi-provider.args" -}}
{{- $args := list (printf "-endpoint=%s" (include "vault-csi-provider.endpoint" .)) -}}
{{- $args = append $args (printf "-vault-addr=%s" (required "vault.address is required" .Values.vault.address)) -}}
{{- with .Values.vault.namespace }}
{{- $args = append $args (printf "-vault-namespace=%s" .) -}}
{{- end }}
{{- with .Values.vault.authMount }}
{{- $args = append $args (printf "-vault-mount=%s" .) -}}
{{- end }}
{{- with .Values.vault.tls }}
{{- if .caCert.secretName }}
{{- $key := required "vault.tls.caCert.key is required with vault.tls.caCert.secretName" .caCert.key }}
{{- $args = append $args (printf "-vault-tls-ca-cert=%s/%s" (include "vault-csi-provider.caDir" $) $key) -}}
{{- end }}
{{- with .serverName }}
{{- $args = append $args (printf "-vault-tls-server-name=%s" .) -}}
{{- end }}
{{- if .skipVerify }}
{{- $args = append $args "-vault-tls-skip-verify=true" -}}
{{- end }}
{{- with .allowedDirs }}
{{- $args = append $args (printf "-allowed-tls-dirs=%s" (join "," .)) -}}
{{- end }}
{{- end }}
{{- $args = append $args (printf "-health-addr=:%v" .Values.healthPort) -}}
{{- if .Values.metrics.enabled }}
{{- $args = append $args (printf "-metrics-addr=:%v" .Values.metrics.port) -}}
{{- else }}
{{- $args = append $args "-metrics-addr=" -}}
{{- end }}
{{- $args = append $args (printf "-log-level=%s" .Values.logLevel) -}}
{{- $args = append $args (printf "-log-format=%s" .Values.logFormat) -}}
{{- $args = append $args (printf "-hmac-secret-name=%s" (required "hmacSecretName is required" .Values.hmacSecretName)) -}}
{{- if .Values.state.enabled }}
{{- $args = append $args (printf "-state-secret-name=%s" (required "state.secretName is required" .Values.state.secretName)) -}}
{{- else }}
{{- $args = append $args "-state-file=" -}}
{{- end }}
{{- $args = append $args (printf "-max-stale-if-error=%s" .Values.maxStaleIfError) -}}
{{- if .Values.serviceAccountTokens.driverTokensOnly }}
{{- $args = append $args "-driver-tokens-only" -}}
{{- else }}
{{- $args = append $args (printf "-allowed-audiences=%s" (join "," .Values.serviceAccountTokens.allowedAudiences)) -}}
{{- end }}
{{- $args = append $args (printf "-max-vault-requests=%v" (int .Values.maxVaultRequests)) -}}
{{- if .Values.policy.enabled }}
{{- $args = append $args (printf "-policy-file=%s/policy.yaml" (include "vault-csi-provider.policyDir" .)) -}}
{{- $args = append $args (printf "-policy-reload-interval=%s" .Values.policy.reloadInterval) -}}
{{- end }}
{{- range .Values.extraArgs }}
{{- $args = append $args (toString .) -}}
{{- end }}
{{- toYaml $args -}}
{{- end -}}
