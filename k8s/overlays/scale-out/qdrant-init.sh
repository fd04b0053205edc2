#!/bin/bash
# Start one Qdrant cluster node. Pod 0 founds the cluster; the others join it through pod 0's
# peer-to-peer port. (The same bootstrap as Qdrant's Helm chart.)
set -euo pipefail
ordinal="${HOSTNAME##*-}"
self="http://${HOSTNAME}.qdrant-headless:6335"
if [ "$ordinal" = "0" ]; then
    exec ./entrypoint.sh --uri "$self"
fi
exec ./entrypoint.sh --bootstrap "http://qdrant-0.qdrant-headless:6335" --uri "$self"
