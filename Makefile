# Two commands for a newcomer (see README): `make demo` and `make test`.
# Both set up first: Debian packages (espeak-ng, ffmpeg, chromium), then .venv with pinned wheels.
PY := .venv/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := espeak-ng ffmpeg chromium

.PHONY: setup demo test test-all
setup: .venv/.installed

.venv/.installed: pyproject.toml
	@command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null && command -v chromium >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES))
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: setup
	.venv/bin/sonovis demo

test: setup
	$(PY) -m pytest -q

test-all: setup
	SONOVIS_SLOW=1 $(PY) -m pytest -q
