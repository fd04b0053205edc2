#!/usr/bin/env bash
# Run the built images and use them (`make image-check`): Triton from imagesearch-triton, the
# API from imagesearch-api pointed at it (a dns:/// target, as the scale-out overlay's
# headless Service), both through `buildah run` on the host network.
# Checks: grpc.health.v1 says SERVING; through grpcurl a collection is created, a Corel
# photo inserted and found again by image and by text; both ran as uid 10001 and wrote
# nothing outside their volumes (/tmp, /var/lib/imagesearch; what a read-only root needs);
# SIGTERM stops the API (exit 0) and then Triton within their grace periods.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
API_IMAGE=${API_IMAGE:-imagesearch-api:$VERSION}
TRITON_IMAGE=${TRITON_IMAGE:-imagesearch-triton:$VERSION}
ISOLATION=${ISOLATION:-chroot}
PY=${PY:-.venv/bin/python}
GRPCURL=${GRPCURL:-$(dirname "$PY")/grpcurl}
PHOTO=${PHOTO:-../shared/datasets/corel1k/300.jpg}
[ -e "$PHOTO" ] || PHOTO=/work/shared/datasets/corel1k/300.jpg
log() { printf '== %s (%ss)\n' "$*" "$SECONDS" >&2; }
fail() { echo "SMOKE FAILED: $*" >&2; exit 1; }
port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

TRITON_PORT=$(port)
API_PORT=$(port)
work=$(mktemp -d)
triton_ctr=$(buildah from --quiet "$TRITON_IMAGE")
api_ctr=$(buildah from --quiet "$API_IMAGE")
triton_pid=""
api_pid=""
# Every process below a pid (chroot isolation shares the host's pid namespace). A killed
# `buildah run` leaves its children running, so cleanup kills the whole tree.
descendants() {
    local all=" $1 " grew=1 pid ppid
    while [ $grew = 1 ]; do
        grew=0
        while read -r pid ppid; do
            if [[ "$all" == *" $ppid "* && "$all" != *" $pid "* ]]; then all="$all$pid "; grew=1; fi
        done < <(ps -e -o pid= -o ppid=)
    done
    echo $all
}
cleanup() {
    local pids=""
    for pid in $api_pid $triton_pid; do pids="$pids $(descendants "$pid")"; done
    [ -z "${pids// /}" ] || kill -KILL $pids 2> /dev/null || true
    wait 2> /dev/null || true
    buildah rm "$triton_ctr" "$api_ctr" > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The process a `buildah run` started: below it, its command line holds `pattern`, and it
# is not one of buildah's own helpers (buildah-chroot-runtime, buildah-chroot-exec).
child_running() {  # pid-of-buildah-run pattern
    local pid argv0
    for pid in $(descendants "$1"); do
        [ "$pid" = "$1" ] && continue
        argv0=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2> /dev/null | head -1)
        [[ "$argv0" == buildah* || -z "$argv0" ]] && continue
        if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$2"; then echo "$pid"; return 0; fi
    done
    return 1
}

# Files a run wrote outside /tmp and the given volume: a read-only root filesystem (as the
# manifests set) would refuse them. `buildah run` itself cannot make the root read-only.
check_written() {  # name container volume-path
    local mnt written
    mnt=$(buildah mount "$2")
    written=$(cd "$mnt" && find . -xdev -newer "$work/marker" -not -type d -not -path "$3/*" \
        -not -path './tmp/*' -not -path './etc/hosts' -not -path './etc/resolv.conf' \
        -not -path './etc/hostname' -print | head -20)
    buildah umount "$2" > /dev/null
    [ -z "$written" ] || fail "$1 wrote outside its volumes (a read-only root would refuse): $written"
}

health() {  # port service -> SERVING or an error
    "$GRPCURL" -plaintext -max-time 3 -d "{\"service\": \"$2\"}" "127.0.0.1:$1" grpc.health.v1.Health/Check 2>&1 || true
}

touch "$work/marker"
log "starting Triton ($TRITON_IMAGE) on 127.0.0.1:$TRITON_PORT"
buildah run --isolation "$ISOLATION" "$triton_ctr" -- /usr/local/bin/triton-entrypoint \
    --grpc-address=127.0.0.1 --grpc-port="$TRITON_PORT" --allow-metrics=false > "$work/triton.log" 2>&1 &
triton_pid=$!
for _ in $(seq 600); do
    "$PY" - "$TRITON_PORT" <<'PYEOF' && break
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
try:
    with grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    sys.exit(reply.status != health_pb2.HealthCheckResponse.SERVING)
except grpc.RpcError:
    sys.exit(1)
PYEOF
    kill -0 "$triton_pid" 2> /dev/null || { tail -30 "$work/triton.log"; fail "Triton exited"; }
    sleep 0.5
done
log "Triton SERVING (grpc.health.v1)"
tserver=$(child_running "$triton_pid" "tritonserver") || fail "no tritonserver under buildah run"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$tserver/status")" = 10001 ] || fail "Triton does not run as uid 10001"

log "starting the API ($API_IMAGE) on 127.0.0.1:$API_PORT"
buildah run --isolation "$ISOLATION" "$api_ctr" -- imagesearch serve --listen "127.0.0.1:$API_PORT" \
    --triton-url "dns:///localhost:$TRITON_PORT" --metrics-port 0 --shutdown-grace-s 10 > "$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 300); do
    case "$(health "$API_PORT" imagesearch.v1.ImageSearchService)" in *SERVING*) break ;; esac
    kill -0 "$api_pid" 2> /dev/null || { tail -30 "$work/api.log"; fail "the API exited"; }
    sleep 0.5
done
[[ "$(health "$API_PORT" imagesearch.v1.ImageSearchService)" == *'"SERVING"'* ]] || { tail -30 "$work/api.log"; fail "API not SERVING"; }
log "API SERVING (grpc.health.v1, service imagesearch.v1.ImageSearchService)"

server_pid=$(child_running "$api_pid" "imagesearch serve") || fail "no imagesearch process under buildah run"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$server_pid/status")
[ "$uid" = 10001 ] || fail "the API runs as uid $uid, not 10001"

# The API of imagesearch.v1 as the README's grpcurl block (tests/test_readme.py runs that one).
call() { "$GRPCURL" -plaintext -max-time 60 -d @ "127.0.0.1:$API_PORT" "imagesearch.v1.ImageSearchService/$1"; }
echo '{"collection_id": "smoke"}' | call CreateCollection > /dev/null
printf '{"parent": "collections/smoke", "item_id": "bus-300", "image": {"content": "%s"}}' "$(base64 -w0 "$PHOTO")" |
    call CreateItem > /dev/null
by_image=$(printf '{"parent": "collections/smoke", "top_k": 1, "image": {"content": "%s"}}' "$(base64 -w0 "$PHOTO")" |
    call SearchItems)
by_text=$(echo '{"parent": "collections/smoke", "text": "a red double-decker bus", "top_k": 1}' | call SearchItems)
[[ "$by_image" == *'"bus-300"'* ]] || fail "image search did not find bus-300: $by_image"
[[ "$by_text" == *'"bus-300"'* ]] || fail "text search did not find bus-300: $by_text"
log "grpcurl: CreateCollection, CreateItem, SearchItems by image and by text found bus-300"

log "SIGTERM to the API (pid $server_pid)"
kill -TERM "$server_pid"
start=$SECONDS
wait "$api_pid" && api_rc=0 || api_rc=$?
api_pid=""
[ "$api_rc" = 0 ] || { tail -20 "$work/api.log"; fail "the API exited with $api_rc after SIGTERM"; }
log "API stopped cleanly in $((SECONDS - start)) s"

check_written api "$api_ctr" ./var/lib/imagesearch

kill -TERM "$tserver"
start=$SECONDS
wait "$triton_pid" && triton_rc=0 || triton_rc=$?
triton_pid=""
log "Triton stopped with code $triton_rc in $((SECONDS - start)) s"
[ "$triton_rc" = 0 ] || fail "Triton exited with $triton_rc after SIGTERM"
check_written Triton "$triton_ctr" ./dev/shm
echo "image smoke check passed"
