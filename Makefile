# minikube8s: two commands do everything on a fresh Debian machine (as root):
#   make run    set up, then start `minikube8s --role ai` on the embedded store
#   make test   set up (plus test-only packages), lint, then the whole test suite
#   make images build the pod images (nginx, busybox, minikube8s/pause) into DOCKER_HOST's daemon
#   make cluster       the seed's 3-node cluster in network namespaces mk8s-node1..3
#                      (192.168.0.10-12); then kubectl --kubeconfig .cluster/kubeconfig get nodes
#   make cluster-down  remove it (processes, containers, mounts, namespaces, .cluster/)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= .data
ROLE   ?= ai
PYTEST_ARGS ?=

.PHONY: run test lint unit bench sysdeps sysdeps-test venv clean images dockerd cluster \
	cluster-down

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed

sysdeps:
	scripts/system-deps.sh node

sysdeps-test:
	scripts/system-deps.sh test

# The local dockerd, started when it is not answering (idempotent; DOCKER_HOST elsewhere: left alone).
dockerd: sysdeps
	scripts/dockerd-up.sh

# Rootfs tarballs are cached in .cache/images; images the daemon has are skipped (FORCE=1 rebuilds).
images: dockerd
	scripts/build-images.sh

run: sysdeps venv images
	$(BIN)/minikube8s --role $(ROLE) --data-dir $(DATA_DIR) --runtime docker

# Each node has its own dockerd; images come from the rootfs tarballs in .cache/images (built
# when missing), so the host's own dockerd is not needed. NODES=N for another size.
NODES ?= 3
cluster: sysdeps venv
	$(BIN)/python examples/cluster/cluster.py up --nodes $(NODES)

cluster-down:
	$(BIN)/python examples/cluster/cluster.py down

lint: venv
	$(BIN)/ruff check minikube8s tests bench
	$(BIN)/mypy

test: sysdeps-test venv lint
	$(BIN)/pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: sysdeps-test venv
	$(BIN)/python bench/store.py
	$(BIN)/python bench/apiserver.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/docker_pods.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/proxy.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) $(DATA_DIR) .cache .pytest_cache .mypy_cache .ruff_cache
