#!/usr/bin/env bash
# `make demo`: the main job on the bundled example. A silent piano video -> calibration -> MIDI, notes CSV,
# preview video and audio; then the score against the example's true MIDI.
set -euo pipefail
cd "$(dirname "$0")/.."
VMB=.venv/bin/vmb
OUT=out/demo
VIDEO=examples/minuet.mp4
TRUTH=examples/minuet.mid
mkdir -p "$OUT"

echo "== find the keyboard and every key ($VIDEO)"
$VMB calibrate "$VIDEO" -o "$OUT/calibration.json" --preview "$OUT/calibration.png"

echo "== transcribe: MIDI, notes CSV, preview video, audio through the default instrument"
$VMB transcribe "$VIDEO" -o "$OUT/minuet.mid" --calibration "$OUT/calibration.json" --notes "$OUT/minuet.csv" \
    --preview "$OUT/preview.mp4" --render "$OUT/minuet.wav"

echo "== score against the true MIDI ($TRUTH)"
$VMB eval "$TRUTH" "$OUT/minuet.mid"
echo "outputs in $OUT/: calibration.png shows the keys found, preview.mp4 the keys the model saw down"
