"""The live runner: a source of note edges -> hand channels and transpose -> sinks (MIDI port, OSC, journal).

A source yields :class:`Step` objects (the edges decided when one frame arrived, with its arrival time).
The runner maps them to channels per hand, sends them to every sink, and obeys control commands
(start, stop, pause, resume, panic, transpose, preset, recalibrate) from any thread. Whatever ends a
run (the source ends, stop, a signal, an error) silences every sounding note: a hanging note is a bug.
Controls enter through :meth:`LiveRunner.send_control` (CC), :meth:`LiveRunner.send_pitch_bend`,
:meth:`LiveRunner.send_hand` and :meth:`LiveRunner.send_osc`: the place where gestures reach the sinks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from bridge.calibration_drift import DriftMonitor
from bridge.errors import CalibrationError, VmbError
from bridge.gestures import OscMessage, PitchBend
from bridge.journal import Journal
from bridge.live_presets import LivePreset, bundled_path, load_live_preset
from bridge.midi import ControlChange
from bridge.osc import OscSink
from bridge.sources import Clock, Step
from bridge.types import Frame, KeyboardGeometry, NoteEdge, NoteOff, NoteOn

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0


class EdgeSource(Protocol):
    """Where edges come from: a replayed file, or video frames through the key model (bridge.pipeline)."""

    def steps(self, start: float, halt: threading.Event) -> Iterator[Step]:
        """Steps from stream time ``start``; returns soon after ``halt`` is set."""
        ...

    def recalibrate(self) -> str:
        """Find the keyboard again; raises VmbError where there is nothing to recalibrate."""
        ...


class Sink(Protocol):
    def edge(self, edge: NoteEdge) -> None: ...

    def control(self, t: float, control: int, value: int, channel: int) -> None: ...

    def pitch_bend(self, t: float, value: int, channel: int) -> None: ...

    def panic(self) -> object: ...

    def poll(self) -> None: ...

    def close(self) -> object: ...


class NoteMapper:
    """Hand channels by split pitch, and transpose; remembers each sounding note's output so its note off matches."""

    def __init__(self, preset: LivePreset) -> None:
        self.preset = preset
        self.transpose = preset.transpose
        self._out: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) in -> (channel, pitch) out

    @property
    def sounding(self) -> int:
        return len(self._out)

    def map(self, edge: NoteEdge) -> list[NoteEdge]:
        key = (edge.channel, edge.pitch)
        mapped: list[NoteEdge] = []
        previous = self._out.pop(key, None)
        if previous is not None:
            mapped.append(NoteOff(edge.t, previous[1], previous[0]))
        if isinstance(edge, NoteOn):
            pitch = edge.pitch + self.transpose
            channel = self.preset.left_channel if edge.pitch < self.preset.split_pitch else self.preset.right_channel
            if 0 <= pitch <= 127:
                self._out[key] = (channel, pitch)
                mapped.append(NoteOn(edge.t, pitch, edge.velocity, channel))
        return mapped

    def silence(self, t: float) -> list[NoteEdge]:
        edges: list[NoteEdge] = [NoteOff(t, pitch, channel) for channel, pitch in sorted(self._out.values())]
        self._out.clear()
        return edges


@dataclass
class RunnerStats:
    steps: int = 0
    edges_in: int = 0
    edges_out: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))  # arrival -> sent, seconds


class LiveRunner:
    """Runs one source into the sinks until the source ends (unless ``keep_alive``) or :meth:`quit`."""

    def __init__(self, source: EdgeSource, sinks: Sequence[Sink], preset: LivePreset | None = None, *,
                 osc: OscSink | None = None, journal: Journal | None = None, pacer: Clock | None = None,
                 keep_alive: bool = False) -> None:
        self.source = source
        self.sinks = list(sinks)
        self.osc = osc
        self.journal = journal
        self.pacer = pacer
        self.keep_alive = keep_alive
        self.mapper = NoteMapper(preset or LivePreset())
        self.stats = RunnerStats()
        self.state = "playing"
        self.t = 0.0
        self.observers: list[Callable[[Step, float], None]] = []
        # The journal first: an edge is on disk before it leaves the process.
        self._all: list[Sink] = [*([journal] if journal else []), *self.sinks, *([osc] if osc else [])]
        self._lock = threading.RLock()
        self._quit = threading.Event()
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._restart_at: float | None = None
        self._last_status = 0.0

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._transport(True)
            while not self._quit.is_set():
                if self.state == "stopped":
                    self._idle()
                    continue
                start, self._restart_at = self._restart_at or 0.0, None
                self._halt.clear()
                ended = self._play(start)
                if ended and self._restart_at is None:
                    log.info("the source ended at %.2fs", self.t)
                    self._stop_streaming()
                    if not self.keep_alive:
                        break
        finally:
            self._close()

    def _play(self, start: float) -> bool:
        """Steps until the source ends (True) or a halt (False)."""
        steps = self.source.steps(start, self._halt)
        try:
            for step in steps:
                if self._halt.is_set() or self._quit.is_set():
                    return False
                self._process(step)
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()  # a halted generator releases its video file or camera now, not at garbage collection
        return not (self._halt.is_set() or self._quit.is_set())

    def _process(self, step: Step) -> None:
        with self._lock:
            self.t = step.t
            self.stats.steps += 1
            self.stats.edges_in += len(step.edges)
            for sink in self.sinks:
                sink.poll()  # reconnections first: a receiver that joins now hears this step's notes whole
            if self.state == "playing":
                for edge in step.edges:
                    self._send_all(self.mapper.map(edge))
                self._send_controls(step.controls)
            if self.journal is not None:
                self.journal.heartbeat(step.t)
        sent = time.monotonic()
        self.stats.latencies.append(sent - step.arrived)
        for observer in self.observers:
            observer(step, sent)
        if sent - self._last_status >= STATUS_INTERVAL_S:
            self._heartbeat(sent)

    def _send_controls(self, controls: Sequence[object]) -> None:
        """Gesture messages: controllers, pitch bend and notes to every sink, OSC messages to OSC."""
        for message in controls:
            if isinstance(message, ControlChange):
                for sink in self._all:
                    sink.control(self.t, message.control, message.value, message.channel)
            elif isinstance(message, PitchBend):
                for sink in self._all:
                    sink.pitch_bend(self.t, max(-8192, min(8191, message.value)), message.channel)
            elif isinstance(message, NoteOn | NoteOff):
                self._send_all([message])
            elif isinstance(message, OscMessage) and self.osc is not None:
                self.osc.raw(message.address, message.args)

    def _send_all(self, edges: Sequence[NoteEdge]) -> None:
        for edge in edges:
            self.stats.edges_out += 1
            for sink in self._all:
                sink.edge(edge)

    def _idle(self) -> None:
        self._wake.wait(0.2)
        self._wake.clear()
        for sink in self.sinks:
            sink.poll()
        now = time.monotonic()
        if now - self._last_status >= STATUS_INTERVAL_S:
            self._heartbeat(now)

    def _heartbeat(self, now: float) -> None:
        self._last_status = now
        if self.osc is not None:
            self.osc.status(*self.status_values())

    def _transport(self, playing: bool) -> None:
        if self.osc is not None:
            self.osc.transport(playing)

    def _close(self) -> None:
        with self._lock:
            self.silence("the live run ended")
            self._transport(False)
            for sink in self._all:
                try:
                    sink.close()
                except Exception:  # one sink failing to close must not leave the others sounding
                    log.exception("closing %s failed", type(sink).__name__)

    # --- control ---------------------------------------------------------------------------------------

    def silence(self, reason: str = "") -> None:
        """Note off for every sounding note on every sink, then each sink's panic (all-notes-off)."""
        with self._lock:
            edges = self.mapper.silence(self._stream_time())
            self._send_all(edges)
            for sink in [*self.sinks, *([self.osc] if self.osc else [])]:
                sink.panic()
        if reason and edges:
            log.warning("silenced %d sounding notes: %s", len(edges), reason)

    def _stream_time(self) -> float:
        """Now, in stream time: the pacer's position where a pacer runs, else the last step's time."""
        position = self.pacer.position() if self.pacer is not None else None
        return max(self.t, position) if position is not None else self.t

    def send_control(self, control: int, value: int, channel: int) -> None:
        """A controller (sustain, a gesture's CC) to the MIDI sinks, OSC and the recording."""
        with self._lock:
            for sink in self._all:
                sink.control(self.t, control, value, channel)

    def send_pitch_bend(self, value: int, channel: int) -> None:
        """Pitch bend (-8192..8191, 0 = centre) to the MIDI sinks and OSC."""
        with self._lock:
            for sink in self._all:
                sink.pitch_bend(self.t, max(-8192, min(8191, value)), channel)

    def send_osc(self, address: str, args: Sequence[float | int | str]) -> None:
        """Any other OSC message (a gesture preset's own address) to the OSC receiver."""
        if self.osc is not None:
            self.osc.raw(address, args)

    def send_hand(self, hand: str, position: float, height: float, openness: float, pinch: float) -> None:
        """Smoothed hand features (0-1) out over OSC as /vmb/hand/<left|right>."""
        if self.osc is not None:
            self.osc.hand(self.t, hand, position, height, openness, pinch)

    def quit(self) -> None:
        self._quit.set()
        self._halt.set()
        self._wake.set()
        if self.pacer is not None:
            self.pacer.resume()

    def seek(self, t: float) -> None:
        """Go on from stream time ``t`` (an MTC locate)."""
        with self._lock:
            self.silence("seek")
            self._restart_at = max(0.0, t)
            self._halt.set()
            if self.pacer is not None:
                self.pacer.reset(self._restart_at)

    def _stop_streaming(self) -> None:
        with self._lock:
            self.state = "stopped"
            self.silence()
            self._transport(False)

    def command(self, name: str, argument: int | str | None) -> str:
        with self._lock:
            if name == "start":
                if self.state == "stopped":
                    self._restart_at = 0.0
                    self._wake.set()
                if self.pacer is not None:
                    self.pacer.resume()
                self.state = "playing"
                self._transport(True)
            elif name == "stop":
                self._halt.set()
                self._stop_streaming()
            elif name == "pause":
                if self.state == "playing":
                    self.state = "paused"
                    if self.pacer is not None:
                        self.pacer.pause()
                    self.silence()
            elif name == "resume":
                if self.state == "paused":
                    self.state = "playing"
                    if self.pacer is not None:
                        self.pacer.resume()
            elif name == "panic":
                self.silence()
            elif name == "transpose":
                return self._transpose(int(argument or 0))
            elif name == "preset":
                preset = load_live_preset(bundled_path("live", str(argument)))
                self.mapper.preset = preset
                self.mapper.transpose = preset.transpose
                return preset.name
            elif name == "recalibrate":
                detail = self.source.recalibrate()
                self._restart_at = self.t
                self._halt.set()
                return detail
            else:
                raise VmbError(f"unknown command {name}")
            return self.state

    def _transpose(self, semitones: int) -> str:
        if not -48 <= semitones <= 48:
            raise VmbError(f"transpose {semitones} is outside -48..48 semitones")
        self.mapper.transpose = semitones
        return str(semitones)

    def status_values(self) -> tuple[str, float, int, int, int]:
        dropped = sum(getattr(sink, "dropped", 0) for sink in self.sinks)
        return self.state, float(self.t), self.mapper.sounding, self.stats.steps, dropped



class VideoEdgeSource:
    """Frames (a video file or a camera) through the key model and decoder (bridge.pipeline) into steps.

    ``frames(start, halt)`` gives the frames from stream time ``start`` (ending soon after ``halt`` is
    set); ``calibrate(images)`` finds the keyboard again from the latest frames seen, on the ``recalibrate``
    command or by itself when the drift monitor sees that the camera or the keyboard moved. A new
    calibration ends the sounding notes and restarts the model on the new keyboard, without a restart.
    """

    DRIFT_EVERY = 5  # frames between drift checks

    def __init__(self, frames: Callable[[float, threading.Event], Iterable[Frame]], geometry: KeyboardGeometry, *,
                 calibrate: Callable[[Sequence[NDArray[np.uint8]]], KeyboardGeometry] | None = None,
                 model_path: Path | None = None, threads: int | None = None,
                 gestures: Callable[[Frame], Sequence[object]] | None = None) -> None:
        self.frames = frames
        self.gestures = gestures
        self.geometry = geometry
        self.calibrate = calibrate
        self.model_path = model_path
        self.threads = threads
        self.recalibrations = 0
        self._recent: deque[NDArray[np.uint8]] = deque(maxlen=8)
        self._changed = threading.Event()
        self._monitor: DriftMonitor | None = None

    def steps(self, start: float, halt: threading.Event) -> Iterator[Step]:
        try:
            from bridge.pipeline import edge_stream
        except ImportError as exc:
            raise VmbError(f"the key model pipeline is not available in this install ({exc}): "
                           "use --replay FILE, or update vmb") from exc
        arrivals: dict[int, float] = {}
        controls: dict[int, Sequence[object]] = {}
        frames = iter(self.frames(start, halt))

        def arriving() -> Iterator[Frame]:
            """Frames until the stream halts or the calibration changes (then the model starts over)."""
            for frame in frames:
                arrivals[frame.index] = time.monotonic()
                if self.gestures is not None:
                    controls[frame.index] = self.gestures(frame)
                yield frame
                if halt.is_set() or self._changed.is_set():
                    return

        watched = -1
        while True:
            self._changed.clear()
            for frame, edges in edge_stream(arriving(), self.geometry, model_path=self.model_path,
                                            threads=self.threads):
                yield Step(frame.t, edges, arrivals.pop(frame.index, time.monotonic()),
                           controls.pop(frame.index, ()))
                if frame.index != watched:  # the drift check after the frame's notes went out, not before
                    watched = frame.index
                    self._watch(frame)
                if len(arrivals) > 1000:  # frames the model skipped: forget their arrival times
                    arrivals.clear()
                    controls.clear()
            if halt.is_set() or not self._changed.is_set():
                return

    def _watch(self, frame: Frame) -> None:
        """Keep recent frames for recalibration; recalibrate when the keyboard stopped matching."""
        if frame.index % 15 == 0:
            self._recent.append(frame.image)
        if self.calibrate is None or frame.index % self.DRIFT_EVERY:
            return
        try:
            if self._monitor is None:
                self._monitor = DriftMonitor(self.geometry, frame.image, patience=6)
            elif self._monitor.update(frame.image):
                log.warning("the camera or the keyboard moved (%.0f%% of the keys still match): recalibrating",
                            100 * self._monitor.last_matching)
                self._recent.append(frame.image)
                self.recalibrate()
        except VmbError as exc:
            log.warning("recalibration failed, keeping the old calibration: %s", exc)
            self._monitor = None  # start over from a later frame

    def recalibrate(self) -> str:
        if self.calibrate is None or not self._recent:
            raise VmbError("no frames to recalibrate from yet: wait until the picture shows the keyboard")
        geometry = self.calibrate(list(self._recent))
        if geometry.image_size != self.geometry.image_size:
            raise CalibrationError("the new calibration is for another frame size: restart vmb live")
        self.geometry = geometry
        self.recalibrations += 1
        self._monitor = DriftMonitor(geometry, self._recent[-1], patience=6)
        self._changed.set()
        log.info("recalibrated: %d keys from %d, confidence %.2f", geometry.n_keys, geometry.lowest_pitch,
                 geometry.confidence)
        return f"{self.geometry.n_keys} keys, confidence {self.geometry.confidence:.2f}"
