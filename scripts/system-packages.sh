#!/usr/bin/env bash
# Install the Debian packages one make target needs, and no more.
#
#   scripts/system-packages.sh demo    espeak-ng: all the demo speaks with
#   scripts/system-packages.sh test    + flite, ffmpeg, chromium (main), and the optional voice packs
#                                      the engine tests use: mbrola voices, Pico, RHVoice
#
# Debian 12 keeps mbrola in `contrib` and its voices, Pico and RHVoice in `non-free`. A machine whose
# apt sources lack those components gets them in one file of its own, said before it is written
# (SONOVIS_NO_NONFREE=1 leaves apt's sources alone). A pack that still cannot be had is skipped with
# one line naming what it disables; only a missing `main` package fails the set-up.
set -euo pipefail

profile=${1:?usage: scripts/system-packages.sh demo|test}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
CONTRIB_SOURCES=/etc/apt/sources.list.d/sonovis-contrib-non-free.sources

case "$profile" in
  demo) main=(espeak-ng); optional=() ;;
  test) main=(espeak-ng flite ffmpeg chromium); optional=(mbrola pico rhvoice) ;;
  *) echo "system-packages: unknown profile '$profile' (demo or test)" >&2; exit 2 ;;
esac

# Optional packs: name -> packages, and what their absence disables.
declare -A PACK_PACKAGES=(
  [mbrola]="mbrola $(printf 'mbrola-%s ' us1 us2 us3 en1 af1 nl2 fr1 fr4 de1 de2 de3 de4 de5 de6 gr2 hu1 pl1 ro1 sw1 sw2)"
  [pico]="libttspico-utils"
  [rhvoice]="rhvoice rhvoice-english"
)
declare -A PACK_DISABLES=(
  [mbrola]="espeak-ng's mbrola voices (speech.voices = [\"mbrola\"]) and their tests"
  [pico]="the pico engine and its tests"
  [rhvoice]="the rhvoice engine and its tests"
)

# (whole outputs compared, not piped into grep -q: under pipefail its early exit fails the pipe)
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
candidate() { [[ "$(apt-cache policy "$1" 2>/dev/null)" == *"Candidate: "[0-9]* ]]; }
missing_of() { local p; for p in "$@"; do installed "$p" || echo "$p"; done; }

updated=""
apt_update() { [ -n "$updated" ] || { $SUDO apt-get update -qq; updated=1; }; }
apt_install() { $SUDO env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq "$@" >/dev/null; }

mapfile -t need < <(missing_of "${main[@]}")
if [ ${#need[@]} -gt 0 ]; then
  echo "system-packages: installing ${need[*]} (Debian main)"
  apt_update
  apt_install "${need[@]}"
fi

wanted=()
for pack in "${optional[@]}"; do
  # shellcheck disable=SC2086
  [ -z "$(missing_of ${PACK_PACKAGES[$pack]})" ] || wanted+=("$pack")
done
[ ${#wanted[@]} -gt 0 ] || exit 0

apt_update
if ! candidate libttspico-utils && [ -z "${SONOVIS_NO_NONFREE:-}" ] && [ ! -e "$CONTRIB_SOURCES" ]; then
  . /etc/os-release
  if [ "${ID:-}" = debian ]; then
    echo "system-packages: adding Debian's contrib and non-free components to apt's sources in $CONTRIB_SOURCES"
    echo "                 (for the optional voices: ${wanted[*]}; SONOVIS_NO_NONFREE=1 skips this)"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$VERSION_CODENAME" | $SUDO tee "$CONTRIB_SOURCES" >/dev/null
    updated=""; apt_update
  else
    echo "system-packages: on ${PRETTY_NAME:-this system} enable the components that carry ${wanted[*]} (Ubuntu: multiverse) to have them"
  fi
fi

for pack in "${wanted[@]}"; do
  # shellcheck disable=SC2086
  mapfile -t need < <(missing_of ${PACK_PACKAGES[$pack]})
  unavailable=(); for p in "${need[@]}"; do candidate "$p" || unavailable+=("$p"); done
  if [ ${#unavailable[@]} -gt 0 ]; then
    echo "system-packages: skipped $pack: ${unavailable[*]} not in apt's sources; this disables ${PACK_DISABLES[$pack]}"
  elif apt_install "${need[@]}"; then
    echo "system-packages: installed $pack (${need[*]})"
  else
    echo "system-packages: skipped $pack: apt-get could not install ${need[*]}; this disables ${PACK_DISABLES[$pack]}"
  fi
done
