#!/usr/bin/env bash
# `make demo`: the longest real path the product has today, on bundled or shared material.
# Today: a real performance MIDI -> notes CSV -> MIDI again, scored against the original, and a
# synthetic video of it; then, as they land, calibration, transcription and audio rendering.
set -euo pipefail
cd "$(dirname "$0")/.."
VMB=.venv/bin/vmb
OUT=out/demo
mkdir -p "$OUT"
SOURCE=../shared/data/midi/miditest/5.mid
[[ -f $SOURCE ]] || { echo "error: $SOURCE is missing: put the shared data folder beside the repository" >&2; exit 1; }

echo "== notes from a real performance ($SOURCE)"
$VMB convert "$SOURCE" -o "$OUT/notes.csv"
$VMB convert "$OUT/notes.csv" -o "$OUT/roundtrip.mid"

echo "== a synthetic performance video of the same music, with exact labels"
$VMB synth "$SOURCE" -o "$OUT/performance.mp4" --labels "$OUT/labels.npz" --style grand --seed 1 --duration 8 --size 1280x720

if $VMB render --help >/dev/null 2>&1; then
  echo "== audio through the default General MIDI instrument"
  $VMB render "$OUT/roundtrip.mid" -o "$OUT/stems" --mix
fi

echo "== score of the round trip against the original"
$VMB eval "$SOURCE" "$OUT/roundtrip.mid"
echo "outputs in $OUT/"
