#!/bin/sh
# One-shot after Temporal starts: waits (up to 5 minutes) for the frontend to serve and
# the namespace to exist, then creates agentrun's search attributes (src/shared/names.ts)
# unless present. Runs with the `temporal` CLI of temporalio/admin-tools (or the local
# CLI image of compose/local.yml). TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE come from the
# service's environment.
set -eu
# A call that fails for a moment (a container network's DNS under load) is tried again, 5 times in all.
retry() {
  n=1
  until "$@"; do
    [ "$n" -lt 5 ] || return 1
    echo "retrying ($n): $*" >&2
    n=$((n + 1))
    sleep 2
  done
}
deadline=$(( $(date +%s) + 300 ))
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" 2>/dev/null | grep -q SERVING \
  && temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "Temporal at $TEMPORAL_ADDRESS did not serve namespace $TEMPORAL_NAMESPACE within 5 minutes" >&2; exit 1; }
  sleep 2
done
# Created, or there already (an earlier attempt created it and its answer was lost).
create() {
  temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" --name "$1" --type "$2" \
    || temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" | grep -qw "$1"
}
existing=$(retry temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE")
for attr in AgentStatus=Keyword UserId=Keyword AgentPriority=Int; do
  name=${attr%%=*}
  if printf '%s\n' "$existing" | grep -qw "$name"; then echo "search attribute $name: present"; continue; fi
  retry create "$name" "${attr#*=}"
  echo "search attribute $name: created"
done
