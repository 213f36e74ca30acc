#!/bin/sh
# Build the test VST3 instruments (VmbTestSynth, VmbCrashSynth, VmbHangSynth) into tests/plugins/build/.
# Needs Debian's dpf-source (/usr/share/dpf) and a C++ compiler. Idempotent: skips work already done.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$HERE/build"
DPF_SRC=${DPF_SRC:-/usr/share/dpf}
[ -d "$DPF_SRC/distrho" ] || { echo "dpf-source not found at $DPF_SRC: apt-get install dpf-source" >&2; exit 1; }
mkdir -p "$OUT"
if [ ! -f "$OUT/dpf/.patched-3" ]; then
    rm -rf "$OUT/dpf"
    cp -r "$DPF_SRC" "$OUT/dpf"
    # Fix 1: drop the 16x130 MIDI-CC pseudo-parameters (loading took ~11 s with them).
    sed -i 's/kVst3InternalParameterMidiCC_start + 130\*16/kVst3InternalParameterMidiCC_start/' \
        "$OUT/dpf/distrho/src/DistrhoPluginVST.hpp"
    # Fix 2: off-by-one that made the first real parameter read back as 0.
    sed -i 's/rindex <= kVst3InternalParameterMidiCC_end/rindex < kVst3InternalParameterMidiCC_end/' \
        "$OUT/dpf/distrho/src/DistrhoPluginVST3.cpp"
    # Fix 3: the host activating an already active plugin (setActive after process) printed a red
    # "assertion failure: ! fIsActive" line on every load; treat it as the no-op it is.
    sed -i 's/DISTRHO_SAFE_ASSERT_RETURN(! fIsActive,);/if (fIsActive) return;/' \
        "$OUT/dpf/distrho/src/DistrhoPluginInternal.hpp"
    touch "$OUT/dpf/.patched-3"
fi
build_one() {  # name, crash flag (0 or 1)
    if [ -n "$(find "$OUT/bin/$1.vst3" -name '*.so' 2>/dev/null)" ] && \
       [ "$OUT/bin/$1.vst3" -nt "$HERE/vmbsynth/VmbSynth.cpp" ] && \
       [ "$OUT/bin/$1.vst3" -nt "$OUT/dpf/.patched-3" ]; then return 0; fi
    rm -rf "$OUT/src-$1" "$OUT/obj/$1" "$OUT/bin/$1.vst3" && cp -r "$HERE/vmbsynth" "$OUT/src-$1"
    sed -i "1i #define VMB_CRASH $2" "$OUT/src-$1/DistrhoPluginInfo.h"
    make -C "$OUT/src-$1" -s NAME="$1" DPF_PATH="$OUT/dpf" DPF_TARGET_DIR="$OUT/bin" \
        DPF_BUILD_DIR="$OUT/obj/$1" >/dev/null
}
build_one VmbTestSynth 0
build_one VmbCrashSynth 1
build_one VmbHangSynth 2
for name in VmbTestSynth VmbCrashSynth VmbHangSynth; do echo "$OUT/bin/$name.vst3"; done
