#!/bin/sh
# Serve the baked-in model repository (/models): every model in it, loaded at start.
# Model control (load/unload, repository index), shared memory, trace and logging are locked
# behind a header whose value is a random key made here and never printed: imagesearch uses
# none of them, and another pod reaching port 8001 must not unload or replace models (issue
# 10, hole 10; the NetworkPolicies close the port too). HTTP is off (it carries the same
# APIs). Extra arguments (ports, GPU metrics) are appended.
set -eu
key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
exec tritonserver \
    --model-repository=/models \
    --backend-directory=/opt/tritonserver/backends \
    --model-control-mode=explicit \
    --load-model='*' \
    --exit-on-error=true \
    --strict-readiness=true \
    --allow-http=false \
    --grpc-restricted-protocol="model-repository,shared-memory,trace,logging:imagesearch-triton-admin=${key}" \
    "$@"
