#!/usr/bin/env bats
# Case 2: a rolling update of the provider's DaemonSet (helm upgrade to a
# new image tag) while pods keep starting. Counted: the pod starts that
# failed a mount (FailedMount events) or waited (time to Ready above the
# pods started before the update), and the Vault logins and certificates
# the restart caused, from Vault's audit log. Asserted: every pod becomes
# Ready with the right contents; the pods already running make no new login
# and get no new certificate (the state file keeps their tokens and
# certificates across the restart).
#
# Prints one line for the record:
#   rollout: N pods started during the update, F failed, W waited (max X s), L new logins, C new certificates
# L and C are the logins and certificates of the pods already running (what
# the restart caused); the new pods' own are printed after it.

# Pods started before the update, and during it: at least ROLLOUT_PODS, a
# batch of ROLLOUT_BATCH (one kubectl apply) every ROLLOUT_EVERY seconds
# until the new provider is Ready; at most ROLLOUT_MAX.
OLD_PODS=3
ROLLOUT_PODS=${ROLLOUT_PODS:-24}
ROLLOUT_BATCH=${ROLLOUT_BATCH:-3}
ROLLOUT_EVERY=${ROLLOUT_EVERY:-1}
ROLLOUT_MAX=${ROLLOUT_MAX:-40}

setup_file() {
	load helpers
	# Unique per run, so that the case runs again on a held node.
	RUN_ID=$(date +%s)
	export RUN_ID
	export OLD_NS=ro-old-$RUN_ID NEW_NS=ro-new-$RUN_ID
	export AUDIT_LOG=$E2E_DIR/vault-audit.log
	[[ -f $AUDIT_LOG ]] || vault audit enable file file_path="$AUDIT_LOG" >/dev/null
	if ! vault secrets list -format json | jq -e '."pki/"' >/dev/null; then
		vault secrets enable pki >/dev/null
		vault secrets tune -max-lease-ttl=24h pki >/dev/null
		vault write pki/root/generate/internal common_name=node-e2e-ca ttl=24h >/dev/null
		vault write pki/roles/node allow_any_name=true ttl=1h max_ttl=2h >/dev/null
	fi
	local ns
	for ns in "$OLD_NS" "$NEW_NS"; do
		new_namespace "$ns" app
		kv_app "$ns" db "value-$ns"
		cert_class "$ns"
	done
}

setup() { load helpers; }

# cert_class NS: kv_app's class db with a certificate (pki/issue/node) added
# as cert.pem, and the policy that allows it.
cert_class() {
	local ns=$1
	printf 'path "secret/data/%s/*" { capabilities = ["read"] }\npath "pki/issue/node" { capabilities = ["update"] }\n' "$ns" |
		vault policy write "$ns" - >/dev/null
	kubectl apply -f - >/dev/null <<-YAML
	apiVersion: secrets-store.csi.x-k8s.io/v1
	kind: SecretProviderClass
	metadata: {name: db, namespace: $ns}
	spec:
	  provider: vault
	  parameters:
	    roleName: $ns
	    objects: |
	      - objectName: value
	        secretPath: secret/data/$ns/db
	        secretKey: value
	      - objectName: db
	        secretPath: secret/data/$ns/db
	        templateOnly: true
	      - objectName: rendered.conf
	        template: 'value={{ .db.data.data.value }}'
	      - objectName: cert.pem
	        secretPath: pki/issue/node
	        method: PUT
	        secretArgs: {common_name: $ns.example.com}
	        secretKey: certificate
	YAML
}

# seconds_to_ready NS: each pod's seconds from creation to Ready, one a line.
seconds_to_ready() {
	kubectl -n "$1" get pods -o json | jq -r '.items[] | . as $p
		| ($p.status.conditions // [] | map(select(.type == "Ready" and .status == "True")) | first | .lastTransitionTime) as $r
		| if $r then (($r | fromdateiso8601) - ($p.metadata.creationTimestamp | fromdateiso8601)) else "never" end'
}

# audit_count FROM_LINE PATH NS: Vault responses to PATH for tokens (or
# logins) of NS's service accounts in the audit log after line FROM_LINE.
audit_count() {
	tail -n +"$(($1 + 1))" "$AUDIT_LOG" | jq -c --arg path "$2" --arg ns "$3" 'select(.type == "response"
		and .request.path == $path
		and ((.auth.metadata.service_account_namespace // .response.auth.metadata.service_account_namespace) == $ns))' | wc -l
}

# rollout_done: the DaemonSet's pods all run the new template and are Ready.
rollout_done() {
	kubectl -n vault-csi-provider get daemonset vault-csi-provider -o json | jq -e '
		.status.observedGeneration == .metadata.generation
		and .status.updatedNumberScheduled == .status.desiredNumberScheduled
		and .status.numberReady == .status.desiredNumberScheduled
		and (.status.numberUnavailable // 0) == 0' >/dev/null
}

@test "rollout: a new image tag while pods keep starting" {
	local i n=0 start old_certs=()
	for ((i = 1; i <= OLD_PODS; i++)); do app_pod "$OLD_NS" "old-$i" db "" cert.pem; done
	kubectl -n "$OLD_NS" wait --for condition=Ready pods --all --timeout 120s >/dev/null
	for ((i = 1; i <= OLD_PODS; i++)); do
		wait_log 30 "$OLD_NS" "old-$i" "file /mnt/secrets/value sha256=$(sha "value-$OLD_NS")"
		wait_until 30 "old-$i's certificate" eval "app_log $OLD_NS old-$i | grep -q '^file /mnt/secrets/cert.pem sha256='"
		old_certs+=("$(app_log "$OLD_NS" "old-$i" | grep '^file /mnt/secrets/cert.pem ')")
	done
	local baseline
	baseline=$(seconds_to_ready "$OLD_NS" | sort -n | tail -1)

	# A second tag of the same image, imported as a release would be.
	local new_tag=${PROVIDER_IMAGE##*:}-rollout-$RUN_ID ref=$PROVIDER_IMAGE
	# containerd's name for an image without a registry.
	[[ $ref == */* ]] || ref=docker.io/library/$ref
	"$ROOT/bin/node/ctr" --address "$CONTAINERD_SOCK" --namespace k8s.io images tag \
		"$ref" "${ref%:*}:$new_tag" >/dev/null
	local old_pod audit_from
	old_pod=$(kubectl -n vault-csi-provider get pods -l app.kubernetes.io/name=vault-csi-provider -o jsonpath='{.items[0].metadata.name}')
	audit_from=$(wc -l <"$AUDIT_LOG")
	start=$(date +%s)
	"$ROOT/bin/helm" upgrade vault-csi-provider "$ROOT/deployment/helm/vault-csi-provider" \
		--namespace vault-csi-provider --reuse-values --set image.tag="$new_tag" >/dev/null
	# Batches of pods until the new provider is Ready (and ROLLOUT_PODS in all).
	while ((n < ROLLOUT_MAX)); do
		for ((i = 0; i < ROLLOUT_BATCH && n < ROLLOUT_MAX; i++)); do
			n=$((n + 1))
			app_pod_yaml "$NEW_NS" "new-$n" db "" cert.pem
			echo ---
		done | kubectl apply -f - >/dev/null
		n=$(kubectl -n "$NEW_NS" get pods -o name | wc -l)
		if ((n >= ROLLOUT_PODS)) && rollout_done; then break; fi
		sleep "$ROLLOUT_EVERY"
	done
	kubectl -n vault-csi-provider rollout status daemonset/vault-csi-provider --timeout 120s >/dev/null
	local new_pod ready_at
	new_pod=$(kubectl -n vault-csi-provider get pods -l app.kubernetes.io/name=vault-csi-provider -o jsonpath='{.items[0].metadata.name}')
	assert [ "$new_pod" != "$old_pod" ]
	run kubectl -n vault-csi-provider get pod "$new_pod" -o jsonpath='{.spec.containers[0].image}'
	assert_output "${PROVIDER_IMAGE%:*}:$new_tag"
	ready_at=$(kubectl -n vault-csi-provider get pod "$new_pod" -o json |
		jq -r '.status.conditions[] | select(.type == "Ready") | .lastTransitionTime | fromdateiso8601')

	# Every pod Ready, whatever it went through.
	kubectl -n "$NEW_NS" wait --for condition=Ready pods --all --timeout 180s >/dev/null
	# The right contents in every new pod.
	for ((i = 1; i <= n; i++)); do
		wait_log 30 "$NEW_NS" "new-$i" "file /mnt/secrets/value sha256=$(sha "value-$NEW_NS")"
		wait_log 10 "$NEW_NS" "new-$i" "file /mnt/secrets/rendered.conf sha256=$(sha "$(rendered "value-$NEW_NS")")"
		run app_log "$NEW_NS" "new-$i"
		assert_line --regexp '^file /mnt/secrets/cert.pem sha256=[0-9a-f]{64}$'
	done

	# The pods already running: republished by the new provider (their KV
	# read in the audit log after it was Ready), with the certificate they
	# had; no login, no certificate for them.
	wait_until 60 "a republish of $OLD_NS by the new provider" eval \
		"(( \$(audit_count $audit_from secret/data/$OLD_NS/db $OLD_NS) > 0 ))"
	sleep 12 # two more republish rounds of the kubelet's 5 s
	for ((i = 1; i <= OLD_PODS; i++)); do
		run eval "app_log $OLD_NS old-$i | grep '^file /mnt/secrets/cert.pem '"
		assert_output "${old_certs[$((i - 1))]}"
	done
	local logins certs new_logins new_certs failed waited max times
	logins=$(audit_count "$audit_from" auth/kubernetes/login "$OLD_NS")
	certs=$(audit_count "$audit_from" pki/issue/node "$OLD_NS")
	new_logins=$(audit_count "$audit_from" auth/kubernetes/login "$NEW_NS")
	new_certs=$(audit_count "$audit_from" pki/issue/node "$NEW_NS")
	# Pods started while the old provider stopped and the new one started.
	local during
	during=$(kubectl -n "$NEW_NS" get pods -o json | jq --argjson t "$ready_at" \
		'[.items[] | select((.metadata.creationTimestamp | fromdateiso8601) <= $t)] | length')
	failed=$(kubectl -n "$NEW_NS" get events --field-selector reason=FailedMount \
		-o jsonpath='{range .items[*]}{.involvedObject.name}{"\n"}{end}' | sort -u | grep -c . || true)
	# The kubelet's failed attempts for the new pods (its log names a pod by
	# UID), with or without an event.
	local attempts uids=$BATS_TEST_TMPDIR/uids
	kubectl -n "$NEW_NS" get pods -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}' >"$uids"
	attempts=$(grep -F "MountVolume.SetUp failed" "$E2E_DIR/logs/kubelet.log" | grep -cFf "$uids" || true)
	grep -F "MountVolume.SetUp failed" "$E2E_DIR/logs/kubelet.log" | grep -Ff "$uids" |
		grep -oE 'desc = .{0,100}' | sort | uniq -c | sed 's/^/# rollout: failed attempt: /' >&3 || true
	times=$(seconds_to_ready "$NEW_NS" | sort -n)
	max=$(tail -1 <<<"$times")
	waited=$(awk -v b="$baseline" '$1 > b + 2' <<<"$times" | wc -l)
	echo "# rollout: $during pods started during the update, $failed failed, $waited waited (max $max s)," \
		"$logins new logins, $certs new certificates" \
		"(the $OLD_PODS pods already running; the $n new pods: $new_logins logins, $new_certs certificates;" \
		"baseline $baseline s, update to Ready $((ready_at - start)) s, $attempts failed mount attempts)" >&3
	echo "# rollout: seconds to Ready of the new pods: $(tr '\n' ' ' <<<"$times")" >&3
	assert_equal "$logins" 0
	assert_equal "$certs" 0
	# Each new pod got a certificate (a mount cut short by the restart may
	# have asked for one more).
	assert [ "$new_certs" -ge "$n" ]
}

# upgrade HELM_ARGS...: helm upgrade of the provider's release, and the
# rollout waited for.
upgrade() {
	"$ROOT/bin/helm" upgrade vault-csi-provider "$ROOT/deployment/helm/vault-csi-provider" \
		--namespace vault-csi-provider "$@" >/dev/null
	kubectl -n vault-csi-provider rollout status daemonset/vault-csi-provider --timeout 120s >/dev/null
}

@test "upgrading from the root layout (vault.sock and vault.state in the provider directory) keeps the pods' tokens and certificates" {
	local ns=ro-up-$RUN_ID i certs=() audit_from
	# The first case's pods go: the root layout below starts without their state.
	kubectl delete namespace "$OLD_NS" "$NEW_NS" --wait=false >/dev/null
	# The layout of releases before 0.3.0: root, listening on vault.sock
	# itself. The link goes first (deployment/README.md): the provider
	# removes nothing but a socket.
	local values=$BATS_TEST_TMPDIR/values.yaml
	"$ROOT/bin/helm" get values vault-csi-provider --namespace vault-csi-provider -o yaml >"$values"
	rm "$PROVIDERS_DIR/vault.sock"
	upgrade --reuse-values --set socketDir.prepare=false,podSecurityContext.runAsNonRoot=false,securityContext.runAsUser=0
	wait_until 30 "a socket at vault.sock" test -S "$PROVIDERS_DIR/vault.sock"
	new_namespace "$ns" app
	kv_app "$ns" db "value-$ns"
	cert_class "$ns"
	for ((i = 1; i <= OLD_PODS; i++)); do app_pod "$ns" "pod-$i" db "" cert.pem; done
	kubectl -n "$ns" wait --for condition=Ready pods --all --timeout 120s >/dev/null
	for ((i = 1; i <= OLD_PODS; i++)); do
		wait_until 30 "pod-$i's certificate" eval "app_log $ns pod-$i | grep -q '^file /mnt/secrets/cert.pem sha256='"
		certs+=("$(app_log "$ns" "pod-$i" | grep '^file /mnt/secrets/cert.pem ')")
	done

	# Back to the chart's defaults, with the values we had (as a user with a
	# values file upgrades): prepare-dir moves vault.state into vault/.
	audit_from=$(wc -l <"$AUDIT_LOG")
	upgrade --reset-values -f "$values"
	run stat -c '%u:%g %a' "$PROVIDERS_DIR/vault"
	assert_output '65532:65532 700'
	run stat -c '%u:%g' "$PROVIDERS_DIR/vault/vault.state"
	assert_output '65532:65532'
	run readlink "$PROVIDERS_DIR/vault.sock"
	assert_output vault/vault.sock
	assert [ ! -e "$PROVIDERS_DIR/vault.state" ]
	run kubectl -n vault-csi-provider logs daemonset/vault-csi-provider -c prepare-dir
	assert_output --partial "moved /provider/vault.state to /provider/vault/vault.state"
	wait_until 60 "a republish of $ns by the new provider" eval \
		"(( \$(audit_count $audit_from secret/data/$ns/db $ns) > 0 ))"
	sleep 6 # another republish round of the kubelet's 5 s
	for ((i = 1; i <= OLD_PODS; i++)); do
		run eval "app_log $ns pod-$i | grep '^file /mnt/secrets/cert.pem '"
		assert_output "${certs[$((i - 1))]}"
	done
	local logins issued
	logins=$(audit_count "$audit_from" auth/kubernetes/login "$ns")
	issued=$(audit_count "$audit_from" pki/issue/node "$ns")
	echo "# upgrade from the root layout: $logins new logins, $issued new certificates for the $OLD_PODS pods running" >&3
	assert_equal "$logins" 0
	assert_equal "$issued" 0
}
