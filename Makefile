# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv here if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgeaudio-installed

.PHONY: install demo test test-fast clean arm-check tools device-env

install: $(STAMP)

# torch is pinned to 2.13.0: these machines carry its CPU wheel locally; a looser pin pulls CUDA builds.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[export,test]'
	# ExecuTorch without its 49-package list: export and runtime import only these (measured: 10 s and 204 MB
	# against 57 s and 589 MB for `pip install executorch`); --no-deps also keeps the pinned torch.
	$(BIN)/python -m pip install --quiet --no-deps executorch==1.4.0 torchao==0.18.0 ruamel.yaml==0.19.1 tabulate==0.10.0
	touch $(STAMP)

demo: install
	$(BIN)/edgeaudio demo --out demo-out --json demo-out/demo.json

# The tests judge int8 on speech made with espeak-ng and sox, and drive devices through OpenSSH's sshd (Debian
# packages); installed once if missing.
tools:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null && test -x /usr/sbin/sshd || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox openssh-server >/dev/null; } || \
		{ echo "make test needs espeak-ng, sox and openssh-server: apt-get install espeak-ng sox openssh-server"; exit 1; }

# What a device's logins see in tests/test_devices.py: edgeaudio with its base dependencies only (no torch, no
# tensorflow), made here once so that no test downloads anything. Editable, so it runs this checkout's code.
DEVICE_VENV := .venv-device
DEVICE_STAMP := $(DEVICE_VENV)/.edgeaudio-installed
device-env: $(DEVICE_STAMP)
$(DEVICE_STAMP): pyproject.toml
	test -x $(DEVICE_VENV)/bin/python || $(PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/python -m pip install --quiet -e .
	touch $(DEVICE_STAMP)

# Two workers, a test file each at a time; shared fixtures are built once per run (tests/conftest.py).
test: install tools device-env
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The quick loop while changing code: every test file's tests that export or train no more than the one shared
# small model (tests marked slow, or asking for a slow fixture, are left out; see tests/conftest.py).
test-fast: install tools device-env
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

clean:
	rm -rf demo-out .pytest_cache .hypothesis

# The user documentation (docs/, mkdocs.yml) into site/; `make test` builds it too (tests/test_docs.py).
.PHONY: docs
docs: install
	$(BIN)/mkdocs build --strict

# The runtime side on aarch64 under qemu-user (Cortex-A72 = Pi 4, Cortex-A76 = Pi 5) in two Debian roots, bookworm
# (Python 3.11) and trixie (Python 3.13, Raspberry Pi OS 13); not part of `make test`.
# Unpinned: the wheels pyproject's base dependencies resolve to for a Pi (ai-edge-litert 2.x, soundfile, soxr),
# run under qemu 10 from Debian bookworm-backports (cached in .cache/qemu10): bookworm's own qemu 7.2 crashes
# ai-edge-litert 2.x. Also runs predict on a FLAC and a 48 kHz clip. Writes benchmarks/results/arm_check.json.
arm-check: install
	$(BIN)/python benchmarks/arm_check.py
