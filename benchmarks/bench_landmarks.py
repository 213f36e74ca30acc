"""Landmarks at 720p and gesture-to-MIDI latency.

1. Throughput of mediapipe on a rendered 1280x720 H.264 clip (frames decoded before timing): full frames
   against frames shrunk to 640 or 320 px (640 is the default), the lite hand model, hands + pose (every frame
   and every 3rd frame); where the CPU time goes (palm detector alone, two tracked hands, picture conversion);
   and ``extract_landmarks_from_video`` end to end (decoding included), one process against time segments in
   two processes side by side. Hands found and error against the renderer's hand labels.
2. The 16 real keyboard photos as still frames: what mediapipe finds there.
3. Gesture-to-MIDI latency in live use: ``vmb live --gestures mixer``'s path (``VideoEdgeSource`` with the key
   model and ``GestureControl``, ``LiveRunner``, ``MidiSink``) on the clip paced at 30 fps, out of a JACK
   MIDI port (dummy driver) into a second JACK client: from the frame's arrival to the send call, and to the
   receiver's callback.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import cv2
import mir_eval
import numpy as np
from numpy.typing import NDArray

from bridge.foley import foley
from bridge.foley_presets import load_foley_preset
from bridge.gesture_control import GestureControl
from bridge.landmarks import (
    FrameLandmarks,
    LandmarkDetector,
    LandmarkTracks,
    extract_landmarks_from_video,
    stack_frames,
)
from bridge.midi import read_midi
from bridge.motion_synth import tracks_from_synth_labels
from bridge.sources import Pacer, VideoFileSource, paced
from bridge.synth import RenderConfig, render_to_files, true_geometry
from bridge.types import Frame

TITLE = "Landmarks (mediapipe hands and pose) and gesture latency"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIP_S = 20.0  # end to end; the detector table uses its first DETECTOR_S
DETECTOR_S = 10.0
LATENCY_S = 8.0
DETECTORS = (  # label, pose, hand model, detect width, pose every
    ("hands, full model, full 1280x720 frames", False, 1, None, 1),
    ("hands, full model, shrunk to 640 px (default)", False, 1, 640, 1),
    ("hands, full model, shrunk to 320 px", False, 1, 320, 1),
    ("hands, lite model (`--lite`), 640 px", False, 0, 640, 1),
    ("hands + pose (`--pose`), 640 px", True, 1, 640, 1),
    ("hands + pose on every 3rd frame (`--pose --pose-every 3`), 640 px", True, 1, 640, 3),
)
DEFAULT_ROW, POSE_ROWS = 1, (4, 5)
END_TO_END = (  # label, workers, hand model
    ("one process (`--workers 1`), full model", 1, 1),
    ("two time segments side by side (`--workers 2`, the default on 2 cores), full model", 2, 1),
    ("one process, lite model (`--lite --workers 1`)", 1, 0),
    ("two time segments side by side, lite model (`--lite --workers 2`)", 2, 0),
)


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(frames: list[Frame]) -> list[tuple[LandmarkTracks, float, NDArray[np.float64]]]:
    """Per detector of DETECTORS: tracks, wall seconds per frame and the CPU seconds of each frame (model
    loading excluded). The detectors take turns frame by frame, so a burst of load on a shared machine
    hits them all alike and their differences stay fair."""
    size = (frames[0].image.shape[1], frames[0].image.shape[0])
    with ExitStack() as stack:
        detectors = [stack.enter_context(LandmarkDetector(pose=pose, hand_model=model, detect_width=width,
                                                          pose_every=every))
                     for _, pose, model, width, every in DETECTORS]
        for detector in detectors:
            detector.process(frames[0])
        results: list[list[FrameLandmarks]] = [[] for _ in detectors]
        wall, cpu = np.zeros(len(detectors)), np.zeros((len(detectors), len(frames)))
        for i, frame in enumerate(frames):
            for k, detector in enumerate(detectors):
                began, began_cpu = time.perf_counter(), _cpu()
                results[k].append(detector.process(frame))
                wall[k] += time.perf_counter() - began
                cpu[k, i] = _cpu() - began_cpu
    return [(stack_frames(found, size, DETECTORS[k][1]), wall[k] / len(frames), cpu[k])
            for k, found in enumerate(results)]


def _errors(tracks: LandmarkTracks, truth: NDArray[np.float32]) -> tuple[list[float], list[bool]]:
    """Median point error of each found hand against the nearer true hand, and whether its slot was right."""
    errors, right_slot = [], []
    for i, slot in zip(*np.nonzero(tracks.hand_present()), strict=True):
        per_hand = [float(np.median(np.linalg.norm(tracks.hands[i, slot, :, :2] - truth[i, k], axis=1)))
                    for k in range(2)]
        errors.append(min(per_hand))
        right_slot.append(int(np.argmin(per_hand)) == slot)
    return errors, right_slot


def _render(folder: Path, seconds: float, seed: int) -> tuple[Path, Path]:
    notes = read_midi(SHARED / "midi" / "miditest" / "5.mid").notes
    video, labels = folder / f"grand{seed}.mp4", folder / f"grand{seed}.npz"
    render_to_files(notes, RenderConfig(style="grand", seed=seed, duration=seconds), video, labels)
    return video, labels


def _quality(tracks: LandmarkTracks, truth: NDArray[np.float32]) -> str:
    """Table cells: hands per frame, median error, right slot."""
    errors, right = _errors(tracks, truth)
    median = f"{np.median(errors):.1f} px" if errors else "-"
    return f"{tracks.hand_present().sum(axis=1).mean():.2f} | {median} | {np.mean(right) if right else 0:.0%}"


def _palm_share(tracks: LandmarkTracks) -> float:
    """Share of frames where mediapipe runs its palm detector: the frame before tracked fewer than 2 hands."""
    counts = tracks.hand_present().sum(axis=1)
    return float(np.mean(np.concatenate([[True], counts[:-1] < 2])))


def throughput(frames: list[Frame], truth: NDArray[np.float32]) -> tuple[list[str], LandmarkTracks]:
    lines = ["| detector | frames/s (wall) | CPU ms per frame | hands per frame (of 2) | median error | right slot "
             "| frames with palm detection |", "|---|---|---|---|---|---|---|"]
    timed = _timed(frames)
    for (label, *_), (tracks, wall, cpu) in zip(DETECTORS, timed, strict=True):
        lines.append(f"| {label} | {1 / wall:.0f} | {1000 * np.mean(cpu):.1f} | {_quality(tracks, truth)} "
                     f"| {_palm_share(tracks):.0%} |")
    default_tracks, _, default_cpu = timed[DEFAULT_ROW]
    counts = default_tracks.hand_present().sum(axis=1)
    palm = np.concatenate([[True], counts[:-1] < 2])
    tracked_two = ~palm & (counts == 2)
    pose_cost = [float(np.mean(timed[row][2] - default_cpu)) for row in POSE_ROWS]
    lines += ["", "Where the CPU time of the default detector goes (same run; medians over frames, pose: means):", "",
              "| part | CPU ms per frame |", "|---|---|",
              f"| frames tracking two hands, no palm detection: the hand model on two hands | "
              f"{1000 * np.median(default_cpu[tracked_two]):.1f} |",
              f"| frames with palm detection | {1000 * np.median(default_cpu[palm]):.1f} |",
              f"| pose on every frame: hands + pose minus hands, frame by frame | {1000 * pose_cost[0]:.1f} |",
              f"| pose on every 3rd frame, the same way | {1000 * pose_cost[1]:.1f} |"]
    lines += _parts(frames[0].image)
    return lines, default_tracks


def _parts(image: NDArray[np.uint8], n: int = 60) -> list[str]:
    """CPU per frame of the palm detector alone (an empty picture, searched every frame), of pose alone on
    a picture without a person (its person detector), and of shrinking + colour conversion."""
    empty = np.full_like(image, 90)
    rows = []
    for label, hand_model, pose in (("palm detector alone, full model (no hand in the picture)", 1, False),
                                    ("palm detector alone, lite model", 0, False),
                                    ("pose's person detector (nobody in the picture; hands + pose minus hands)", 1,
                                     True)):
        with LandmarkDetector(pose, hand_model=hand_model, search_every=1) as detector:
            detector.process(Frame(0, 0.0, empty))
            began = _cpu()
            for i in range(n):
                detector.process(Frame(i, i / 30, empty))
            rows.append((label, (_cpu() - began) / n))
    rows[2] = (rows[2][0], rows[2][1] - rows[0][1])
    began = _cpu()
    for _ in range(n):
        small = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
        cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    rows.append(("shrinking 1280x720 to 640 px + BGR to RGB", (_cpu() - began) / n))
    return [f"| {label} | {1000 * seconds:.1f} |" for label, seconds in rows]


def end_to_end(video: Path, truth: NDArray[np.float32]) -> list[str]:
    """``extract_landmarks_from_video`` on the whole clip, decoding and worker start-up included; each row the
    faster of two runs (the rows alternate, so a burst of load on the shared machine does not hit one row)."""
    best: dict[str, tuple[float, float, LandmarkTracks]] = {}
    for order in (END_TO_END, END_TO_END[::-1]):
        for label, workers, model in order:
            wall, cpu = time.perf_counter(), _cpu()
            tracks = extract_landmarks_from_video(video, workers=workers, min_segment_s=CLIP_S / 2, hand_model=model)
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            if label not in best or wall < best[label][0]:
                best[label] = (wall, cpu, tracks)
    lines = ["| `vmb landmarks` path, whole clip, decoding included (faster of 2 runs) | frames/s (wall) | CPU ms per "
             "frame (all processes) | hands per frame (of 2) | median error | right slot |",
             "|---|---|---|---|---|---|"]
    for label, (wall, cpu, tracks) in best.items():
        lines.append(f"| {label} | {tracks.n_frames / wall:.0f} | {1000 * cpu / tracks.n_frames:.1f} "
                     f"| {_quality(tracks, truth)} |")
    return [*lines, "", f"Starting a worker (a fresh Python process importing mediapipe and loading its models): "
            f"{_worker_start():.1f} s wall here, paid once per worker and video."]


def _worker_start() -> float:
    script = "import bridge.landmarks as l; l.LandmarkDetector().close()"
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return time.perf_counter() - began


def real_photos() -> tuple[int, int]:
    """Hands found in the real keyboard photos, each searched as a still frame; and the number of photos."""
    photos = sorted((SHARED / "real_keyboards").glob("*.jpg"))
    found = 0
    with LandmarkDetector(search_every=1) as detector:
        for i, photo in enumerate(photos):
            hands = detector.process(Frame(i, i / 30, np.asarray(cv2.imread(str(photo)), np.uint8)))
            found += int(np.isfinite(hands.hands[:, 0, 0]).sum())
    return found, len(photos)


def _percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    p50, p95 = np.percentile(np.asarray(values) * 1000, [50, 95])
    return f"{p50:.1f} / {p95:.1f} ms"


class _TimedGestures:
    """GestureControl, timing its work per frame."""

    def __init__(self, control: GestureControl) -> None:
        self.control = control
        self.seconds: list[float] = []

    def __call__(self, frame: Frame) -> list[object]:
        began = time.perf_counter()
        messages: list[object] = list(self.control(frame))
        self.seconds.append(time.perf_counter() - began)
        return messages


def gesture_latency(video: Path, labels_path: Path) -> list[str]:
    """Frame arrival to MIDI through the live loop, paced at 30 fps, out of a real JACK port into another."""
    from benchmarks.bench_live import JackServer
    from bridge.gestures import PitchBend
    from bridge.live import LiveRunner, VideoEdgeSource
    from bridge.midi import ControlChange
    from bridge.midi_ports import JackMidiIn, JackMidiOut, MidiSink

    labels = np.load(labels_path)
    geometry = true_geometry(labels)
    # mediapipe loads PortAudio (through sounddevice): before the server starts, so it never joins that server.
    gestures = _TimedGestures(GestureControl("mixer", (1280, 720)))
    server = JackServer()
    try:
        receiver = JackMidiIn("vmb-gesture-in")
        port = JackMidiOut("vmb-gesture-out", connect=["vmb-gesture-in:vmb-gesture-in"])
        time.sleep(0.5)
        pacer = Pacer()

        def frames(start: float, halt: threading.Event) -> Iterator[Frame]:
            return paced(VideoFileSource(video, start, LATENCY_S - start), pacer, halt)

        source = VideoEdgeSource(frames, geometry, threads=2, gestures=gestures)
        runner = LiveRunner(source, [MidiSink(port)], pacer=pacer)
        steps: list[tuple[float, float, int]] = []  # arrival, sent, MIDI messages from gestures
        runner.observers.append(lambda step, sent: steps.append(
            (step.arrived, sent, sum(isinstance(m, ControlChange | PitchBend) for m in step.controls))))
        runner.run()
        time.sleep(0.3)
        received = [t for t, message in receiver.receive() if message[0] & 0xF0 in (0xB0, 0xE0)]
        receiver.close()
    finally:
        gestures.control.close()
        server.stop()
    to_send = [sent - arrived for arrived, sent, count in steps for _ in range(count)]
    arrivals = [arrived for arrived, _, count in steps for _ in range(count)]
    to_receiver = [t - a for t, a in zip(received, arrivals, strict=False)]
    every_step = [sent - arrived for arrived, sent, _ in steps]
    return [f"| frames through the loop / frames with a gesture message / messages sent / received | {len(steps)} / "
            f"{sum(1 for *_, c in steps if c)} / {len(to_send)} / {len(received)} (the rest: sustain and "
            f"all-notes-off at the end) |",
            f"| frame arrival to send call (gesture messages), p50 / p95 | {_percentiles(to_send)} |",
            f"| frame arrival to the receiving JACK client (gesture messages), p50 / p95 | "
            f"{_percentiles(to_receiver)} |",
            f"| of which hand detection + mapping per frame, p50 / p95 | {_percentiles(gestures.seconds)} |",
            f"| every frame: arrival to sent (key model + gestures), p50 / p95 | {_percentiles(every_step)} |"]


def side_by_side(video: Path, labels_path: Path, n_frames: int = 90) -> list[str]:
    """Per frame: hand detection + mapping and the key model's step one after the other, then side by side
    (detection in a worker thread while the model runs), as a live loop could run them."""
    from bridge.model import KeyModel, KeyTranscriber

    labels = np.load(labels_path)
    geometry = true_geometry(labels)
    frames = [frame for _, frame in zip(range(n_frames), VideoFileSource(video), strict=False)]
    model = KeyModel.load(threads=2)
    timings: dict[str, list[float]] = {"one after the other": [], "side by side (worker thread)": []}
    for label, times in timings.items():
        transcriber, gestures = KeyTranscriber(geometry, model), GestureControl("mixer", (1280, 720))
        worker = ThreadPoolExecutor(max_workers=1)
        try:
            for frame in frames:
                began = time.perf_counter()
                if label == "one after the other":
                    gestures(frame)
                    transcriber.push(frame)
                else:
                    pending = worker.submit(gestures, frame)
                    transcriber.push(frame)
                    pending.result()
                times.append(time.perf_counter() - began)
        finally:
            worker.shutdown()
            gestures.close()
    return [f"| hand detection + mapping and the key model's step, {label}, per frame p50 / p95 | "
            f"{_percentiles(times[1:])} |" for label, times in timings.items()]


def main() -> list[str]:
    load = os.getloadavg()[0]
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores (load average {load:.1f} at the start; "
             f"wall-clock rates suffer from any load, CPU time per frame is the steadier figure); "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}; `python -m benchmarks.run_all bench_landmarks`. Clip: "
             f"`vmb synth` miditest 5, style grand, 1280x720, {CLIP_S:.0f} s at 30 fps (H.264).", ""]
    with tempfile.TemporaryDirectory() as tmp:
        video, labels_path = _render(Path(tmp), CLIP_S, 2)
        truth = np.load(labels_path)["hand_landmarks"][..., :2]
        table, tracks = throughput(list(VideoFileSource(video, 0.0, DETECTOR_S)), truth)
        lines += [*table, "", *end_to_end(video, truth), "",
                  f"Load average at the end of these tables: {os.getloadavg()[0]:.1f}."]
        _, onsets = tracks_from_synth_labels(labels_path)
        onsets = onsets[onsets < DETECTOR_S]
        notes = foley(tracks, load_foley_preset("piano")).track.notes
        f1 = mir_eval.onset.f_measure(onsets, np.array(sorted({n.start for n in notes})), window=0.1)
        found, photos = real_photos()
        lines += ["", f"- Hands found in the {photos} real keyboard photos: {found}. Some show a player's fingers "
                  "at the bottom edge, motion-blurred and cut off with the palm out of the picture; mediapipe's palm "
                  "detector needs the palm, so it finds none there (also not in square tiles of the photos at "
                  "detection confidence 0.3, checked by hand).",
                  f"- Piano from the detected hands of this clip (`vmb foley --instrument piano`): onset F1 "
                  f"{f1[0]:.2f} at 100 ms (precision {f1[1]:.2f}, recall {f1[2]:.2f}) against {len(onsets)} onsets."]
        lines += ["", "Gesture-to-MIDI latency (`vmb live --gestures mixer` path, the same clip's first "
                  f"{LATENCY_S:.0f} s paced at 30 fps, JACK dummy driver, period 256 at 48 kHz):", "",
                  "| what | figure |", "|---|---|"]
        if shutil.which("jackd") is None:
            lines.append("| gesture latency | not measured: jackd missing |")
        else:
            lines += gesture_latency(video, labels_path)
        lines += side_by_side(video, labels_path)
    return lines


if __name__ == "__main__":
    print("\n".join(main()))
