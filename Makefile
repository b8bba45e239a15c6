# Two commands for a newcomer (see README): `make demo` and `make test`.
# Both set up first: Debian packages (espeak-ng, flite, RHVoice, ffmpeg, chromium; mbrola and Pico voices from
# contrib/non-free where the mirror has them), then .venv with pinned wheels.
PY := .venv/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := espeak-ng flite rhvoice rhvoice-english ffmpeg chromium
# Other synthesis methods for voice diversity, and engines to test a model on that it never heard:
# every mbrola database espeak-ng can speak English with (its mb-*-en and mb-us/en voices), and SVOX
# Pico. Debian ships them in contrib (mbrola) and non-free (the databases, libttspico-utils).
NON_FREE_VOICES := mbrola libttspico-utils $(addprefix mbrola-,us1 us2 us3 en1 af1 nl2 fr1 fr4 de1 de2 de3 de4 de5 de6 gr2 hu1 pl1 ro1 sw1 sw2)
CONTRIB_SOURCES := /etc/apt/sources.list.d/sonovis-contrib-non-free.sources

.PHONY: setup demo test test-all
setup: .venv/.installed

.venv/.installed: pyproject.toml
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null && command -v RHVoice-test >/dev/null && \
		command -v ffmpeg >/dev/null && command -v chromium >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES))
	@$(MAKE) --no-print-directory non-free-voices
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# Optional: without the packages, only mbrola and Pico voices are unavailable (and say so when named).
.PHONY: non-free-voices
non-free-voices:
	@[ -d /usr/share/mbrola/sw2 ] && command -v mbrola >/dev/null && command -v pico2wave >/dev/null || { \
		. /etc/os-release; \
		[ -n "$$(apt-cache policy mbrola-us1 | grep 'Candidate: [0-9]')" ] || [ "$$ID" != debian ] || \
			printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
				"$$VERSION_CODENAME" | $(SUDO) tee $(CONTRIB_SOURCES) >/dev/null; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(NON_FREE_VOICES) >/dev/null \
			|| echo "mbrola and Pico voices skipped: Debian contrib/non-free unreachable (espeak-ng and flite still work)"; }

demo: setup
	.venv/bin/sonovis demo

test: setup
	$(PY) -m pytest -q

test-all: setup
	SONOVIS_SLOW=1 $(PY) -m pytest -q
