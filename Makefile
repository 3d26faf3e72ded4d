# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch 2.13.0 (on machines with its wheel at hand); a GPU machine can pre-install its own torch.
TORCH ?= torch==2.13.0

.PHONY: demo test install browser clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/sdlab demo --output outputs/demo

# The web UI's tests drive Debian's Chromium; without one they are skipped, loudly.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	    $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q chromium >/dev/null 2>&1; }; } || \
	  echo "NO BROWSER: chromium could not be installed; the web UI tests will be skipped"

test: $(VENV)/.installed browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

clean:
	rm -rf $(VENV) outputs
