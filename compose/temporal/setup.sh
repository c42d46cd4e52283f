#!/bin/sh
# One-shot after Temporal starts: waits (up to 5 minutes) for the frontend to serve and
# the namespace to exist, then creates agentrun's search attributes (src/shared/names.ts)
# unless present. Runs with the `temporal` CLI of temporalio/admin-tools (or the local
# CLI image of compose/local.yml). TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE come from the
# service's environment.
set -eu
deadline=$(( $(date +%s) + 300 ))
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" 2>/dev/null | grep -q SERVING \
  && temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "Temporal at $TEMPORAL_ADDRESS did not serve namespace $TEMPORAL_NAMESPACE within 5 minutes" >&2; exit 1; }
  sleep 2
done
existing=$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE")
for attr in AgentStatus=Keyword UserId=Keyword AgentPriority=Int; do
  name=${attr%%=*}
  if printf '%s\n' "$existing" | grep -qw "$name"; then echo "search attribute $name: present"; continue; fi
  temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "${attr#*=}"
  echo "search attribute $name: created"
done
