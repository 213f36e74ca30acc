#!/usr/bin/env bash
# Installs the system packages the tests and the demo use, when they are missing.
# Debian/Ubuntu: apt-get (as root, or through passwordless sudo). Elsewhere: says what to install.
set -euo pipefail

# "check|debian package" pairs: a check is a command name or an absolute path that must exist.
REQUIRED=(
  "ffmpeg|ffmpeg"
  "jackd|jackd2"
  "jack_midi_dump|jackd2"
  "jack_connect|jackd2"
  "oscdump|liblo-tools"
  "pd|puredata-core"
  "fluidsynth|fluidsynth"
  "/usr/share/sounds/sf2/FluidR3_GM.sf2|fluid-soundfont-gm"
  "/usr/lib/vst3/ZamVerb.vst3|zam-plugins"
  "/usr/share/dpf/Makefile.plugins.mk|dpf-source"
  "g++|g++"
  "make|make"
  "pkg-config|pkg-config"
)
MACOS_HINT="brew install ffmpeg jack liblo pure-data fluid-synth pkg-config (zam-plugins and the DPF sources: build them from their upstream releases)"

missing_packages=()
for pair in "${REQUIRED[@]}"; do
  check=${pair%%|*}
  package=${pair##*|}
  if [[ $check == /* ]]; then
    [[ -e $check ]] && continue
  else
    command -v "$check" >/dev/null 2>&1 && continue
  fi
  [[ " ${missing_packages[*]-} " == *" $package "* ]] || missing_packages+=("$package")
done
if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep libfluidsynth >/dev/null; then
  [[ "$(uname)" == Darwin ]] || missing_packages+=("libfluidsynth3")
fi

[[ ${#missing_packages[@]} -eq 0 ]] && { echo "system packages: all present"; exit 0; }

echo "system packages missing: ${missing_packages[*]}"
if command -v apt-get >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "error: cannot install them without root. Run: sudo apt-get install ${missing_packages[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
  echo "system packages: installed ${missing_packages[*]}"
  exit 0
fi
echo "error: no apt-get here. On Debian/Ubuntu: sudo apt-get install ${missing_packages[*]}; on macOS: $MACOS_HINT" >&2
exit 1
