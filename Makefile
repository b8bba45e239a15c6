# Two commands for a newcomer (see README): `make demo` and `make test`.
# Each installs what it needs first: the Debian packages of its profile (scripts/system-packages.sh),
# then .venv with the pinned wheels.
PY := .venv/bin/python

.PHONY: setup demo test test-all system-demo system-test
setup: system-demo .venv/.installed

system-demo system-test: system-%:
	@scripts/system-packages.sh $*

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

.venv/.installed-test: .venv/.installed
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: setup
	.venv/bin/sonovis demo

test: system-test .venv/.installed-test
	$(PY) -m pytest -q

test-all: system-test .venv/.installed-test
	SONOVIS_SLOW=1 $(PY) -m pytest -q
