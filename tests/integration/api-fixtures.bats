#!/usr/bin/env bats
# Every manifest from the Kubernetes documentation (../shared/fixtures/k8s-examples) applies,
# or is rejected exactly where upstream rejects it (tests/integration/fixtures-expected.tsv).

load helpers

setup_file() {
    start_server
}

teardown_file() {
    stop_server
}

@test "k8s-examples: each manifest is accepted or rejected as upstream would" {
    [ -d "$FIXTURES" ]
    table="$BATS_TEST_DIRNAME/fixtures-expected.tsv"
    failures=0 applied=0 rejected=0 i=0
    while IFS= read -r f; do
        i=$((i + 1))
        rel="${f#"$FIXTURES"/}"
        expect="$(awk -F'\t' -v p="$rel" '$1 == p {print $2}' "$table")"
        # a manifest that names its namespace gets that namespace, else a fresh one
        # (read from the file: kubectl would fill in the kubeconfig's namespace)
        ns="$(grep -m1 -oE '^[[:space:]]+"?namespace"?[[:space:]]*:[[:space:]]*"?[a-z0-9-]+' "$f" |
            sed -E 's/.*:[[:space:]]*"?//')" || true
        [ -n "$ns" ] || ns="fx-$i-$RANDOM"
        printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"}}' "$ns" | kubectl apply -f - >/dev/null
        rc=0
        out="$(kubectl apply -n "$ns" -f "$f" 2>&1)" || rc=$?
        if [ -z "$expect" ]; then
            if [ $rc -ne 0 ]; then
                echo "REJECTED but upstream accepts: $rel: $out" >&2
                failures=$((failures + 1))
            else
                applied=$((applied + 1))
            fi
        else
            if [ $rc -eq 0 ] || [[ "$out" != *"$expect"* ]]; then
                echo "expected rejection '$expect' for $rel, got rc=$rc: $out" >&2
                failures=$((failures + 1))
            else
                rejected=$((rejected + 1))
            fi
        fi
    done < <(find "$FIXTURES" -name '*.yaml' | sort)
    echo "applied $applied, rejected as upstream $rejected, failures $failures" >&2
    [ "$applied" -gt 70 ]
    [ "$failures" -eq 0 ]
}
