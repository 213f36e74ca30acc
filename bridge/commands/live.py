"""``vmb live``: a camera, a video or a replayed MIDI file to a virtual MIDI port and OSC, until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.ffmpeg_source import whole_frames
from bridge.journal import Journal
from bridge.live import LiveRunner, Sink, VideoEdgeSource
from bridge.live_presets import DawPreset, LivePreset, bundled_path, load_daw_preset, load_live_preset
from bridge.midi_ports import BACKENDS, MidiSink, default_backend, open_port
from bridge.mtc import RATES, MtcPacer, MtcWriter
from bridge.osc import ControlDispatcher, ControlServer, OscSink, parse_host_port
from bridge.scoring import load_notes
from bridge.service import READY_PREFIX
from bridge.sources import CameraSource, Clock, Pacer, ReplaySource, looped, paced, prefetched
from bridge.types import Frame, KeyboardGeometry

NAME = "live"
HELP = "stream notes from a camera, a video or a replayed MIDI file to a virtual MIDI port and OSC"
EXAMPLE = "vmb live --replay song.mid --realtime --loop --midi-out vmb --osc 127.0.0.1:9000 --control 9001"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", metavar="INDEX_OR_URL", help="camera index (0) or stream URL")
    source.add_argument("--video", type=Path, metavar="FILE", help="a video file, played through the key model")
    source.add_argument("--replay", type=Path, metavar="FILE", help="a .mid or notes .csv played as note edges")
    parser.add_argument("--realtime", action="store_true", help="pace a file at its own timestamps")
    parser.add_argument("--loop", action="store_true", help="play a file again and again")
    parser.add_argument("--start", type=float, default=0.0, help="seconds into the file to start at")
    parser.add_argument("--calibration", type=Path, metavar="CALIB.json", help="keyboard geometry (vmb calibrate)")
    parser.add_argument("--model", type=Path, help="key model (.onnx) instead of the bundled one")
    parser.add_argument("--threads", type=int, help="threads for the key model")
    parser.add_argument("--midi-out", metavar="NAME", help="virtual MIDI port name (default: the DAW preset's, vmb)")
    parser.add_argument("--midi-backend", choices=[*BACKENDS, "none"], help="default: jack on Linux without an "
                        "ALSA sequencer, alsa on Linux, coremidi on macOS, winmm (loopMIDI) on Windows")
    parser.add_argument("--midi-connect", action="append", default=[], metavar="PORT",
                        help="JACK port to connect ours to (repeatable), e.g. system:midi_playback_1")
    parser.add_argument("--osc", metavar="HOST:PORT", help="send OSC here (default: the DAW preset's, if --daw)")
    parser.add_argument("--daw", metavar="NAME", help="DAW preset from presets/daw/: ableton, reaper, bitwig, generic")
    parser.add_argument("--control", type=int, metavar="PORT", help="listen for OSC control on this UDP port; "
                        "keeps running after the source ends")
    parser.add_argument("--control-host", default="127.0.0.1", help="address the control port binds to")
    parser.add_argument("--record", type=Path, metavar="DIR", help="journal every note to DIR, MIDI file at the end")
    parser.add_argument("--preset", metavar="FILE_OR_NAME", help="live preset (hand channels, transpose): a TOML file "
                        "or a name from presets/live/")
    parser.add_argument("--gestures", metavar="FILE_OR_NAME", help="gesture preset (hand features to CC, pitch "
                        "bend, notes, OSC): a TOML file or a name from presets/gestures/ (--camera and --video)")
    parser.add_argument("--mtc-follow", action="store_true", help="follow the DAW's MIDI Time Code (JACK input "
                        "NAME-mtc-in); the file plays, stops and seeks with the DAW")
    parser.add_argument("--mtc-send", action="store_true", help="send MIDI Time Code on the JACK port NAME-mtc")
    parser.add_argument("--mtc-rate", choices=RATES, default="25", help="MTC frame rate to send")


def _live_preset(value: str | None) -> LivePreset:
    if value is None:
        return LivePreset()
    path = Path(value)
    return load_live_preset(path if path.suffix == ".toml" or path.exists() else bundled_path("live", value))


def _daw_preset(args: argparse.Namespace) -> DawPreset | None:
    if args.daw is None:
        return None
    path = Path(args.daw)
    return load_daw_preset(path if path.suffix == ".toml" else bundled_path("daw", args.daw))


def _geometry(args: argparse.Namespace, first_image: NDArray[np.uint8] | None) -> KeyboardGeometry:
    if args.calibration is not None:
        return KeyboardGeometry.load(args.calibration)
    from bridge.calibration import calibrate_images, calibrate_video

    if args.video is not None:
        return calibrate_video(args.video, start=args.start, duration=10.0)
    if first_image is None:
        raise VmbError("the camera gave no picture to calibrate from: check it, or give --calibration CALIB.json")
    return calibrate_images([first_image], source=f"camera {args.camera}")


class _Session:
    """Everything one ``vmb live`` opens, so that all of it is closed whatever happens."""

    def __init__(self) -> None:
        self.closers: list[object] = []
        self.pacer: Clock | None = None
        self.camera: CameraSource | None = None
        self.runner: LiveRunner | None = None
        self.stopping = False  # a signal came before the runner existed


def _video_source(args: argparse.Namespace, session: _Session) -> VideoEdgeSource:
    if args.camera is not None:
        device: int | str = int(args.camera) if args.camera.isdigit() else args.camera

        def silence(reason: str) -> None:
            if session.runner is not None:
                session.runner.silence(reason)

        camera = CameraSource(device, on_stall=silence)
        session.camera = camera
        session.closers.append(camera)
        first = next(iter(camera), None) if args.calibration is None else None

        def camera_frames(start: float, halt: threading.Event) -> Iterable[Frame]:
            return camera

        geometry = _geometry(args, None if first is None else first.image)
        frames_of = camera_frames
    else:
        geometry = _geometry(args, None)
        video = Path(args.video)

        def video_frames(start: float, halt: threading.Event) -> Iterable[Frame]:
            # read as vmb transcribe reads it (the luma where ffmpeg can), so the notes equal the offline ones
            frames: Iterable[Frame] = whole_frames(video, start=args.start + start)
            if args.loop:
                frames = looped(frames)
            frames = prefetched(frames, depth=4)  # decoding overlaps the key model
            return paced(frames, session.pacer, halt) if session.pacer is not None else frames

        frames_of = video_frames
    from bridge.calibration import calibrate_images

    def recalibrate(images: Sequence[NDArray[np.uint8]]) -> KeyboardGeometry:
        return calibrate_images(images, source="the latest frames")

    gestures = None
    if args.gestures:
        from bridge.gesture_control import GestureControl

        gestures = GestureControl(args.gestures, geometry.image_size)
        session.closers.append(gestures)
    return VideoEdgeSource(frames_of, geometry, calibrate=recalibrate, model_path=args.model, threads=args.threads,
                           gestures=gestures)


def _sinks(args: argparse.Namespace, daw: DawPreset | None, session: _Session) -> list[Sink]:
    backend = args.midi_backend or default_backend()
    if backend == "none":
        return []
    name = args.midi_out or (daw.midi_port if daw else "vmb")
    port = open_port(backend, name, connect=args.midi_connect)
    sink = MidiSink(port)
    if args.mtc_send:
        if backend != "jack":
            raise VmbError("--mtc-send needs --midi-backend jack on this version")
        mtc_port = open_port("jack", f"{name}-mtc", connect=())
        session.closers.append(mtc_port)
        writer = MtcWriter(mtc_port.send, lambda: session.pacer.position() if session.pacer else None,
                           args.mtc_rate)
        session.closers.insert(0, writer)
        writer.start()
    return [sink]


def _mtc_follow(args: argparse.Namespace, session: _Session) -> Clock:
    from bridge.midi_ports import JackMidiIn

    name = args.midi_out or "vmb"
    port = JackMidiIn(f"{name}-mtc-in")
    session.closers.append(port)

    def seek(t: float) -> None:
        if session.runner is not None:
            session.runner.seek(t)

    return MtcPacer(port.receive, on_seek=seek)


def run(args: argparse.Namespace) -> int:
    if args.camera is not None and (args.loop or args.realtime):
        raise VmbError("--realtime and --loop apply to --video and --replay files; a camera is live already")
    if args.mtc_send and not args.realtime:
        raise VmbError("--mtc-send sends the time of a file played with --realtime: add --realtime")
    session = _Session()
    _on_signals(session)
    daw = _daw_preset(args)
    preset = _live_preset(args.preset)
    if args.mtc_follow:
        session.pacer = _mtc_follow(args, session)
    elif args.realtime:
        session.pacer = Pacer()
    try:
        source = (ReplaySource(load_notes(args.replay), session.pacer, args.loop) if args.replay is not None
                  else _video_source(args, session))
        sinks = _sinks(args, daw, session)
        session.closers.extend(sinks)  # closed by the runner; again here (harmlessly) if it never ran
        osc = _osc(args, daw)
        journal = Journal(args.record) if args.record is not None else None
        runner = LiveRunner(source, sinks, preset, osc=osc, journal=journal, pacer=session.pacer,
                            keep_alive=args.control is not None)
        session.runner = runner
        if args.control is not None:
            session.closers.insert(0, ControlServer(ControlDispatcher(runner), args.control, args.control_host))
        if session.stopping:
            runner.quit()
        print(_banner(args, sinks, osc, journal), file=sys.stderr, flush=True)
        runner.run()
    finally:
        for closer in session.closers:
            close = getattr(closer, "close", None)
            if close is not None:
                close()
    camera = session.camera
    print(f"{runner.stats.edges_out} note edges sent over {runner.stats.steps} steps"
          + (f"; camera: {camera.delivered} frames used, {camera.dropped} dropped (newest frame wins), "
             f"{camera.stalls} stalls" if camera is not None else "")
          + (f"; recording: {journal.midi_path}" if journal is not None else ""))
    return 0


def _osc(args: argparse.Namespace, daw: DawPreset | None) -> OscSink | None:
    if args.osc is None and daw is None:
        return None
    host, port = parse_host_port(args.osc) if args.osc else (daw.osc_host, daw.osc_port) if daw else ("", 0)
    return OscSink(host, port, daw) if daw is not None else OscSink(host, port)


def _banner(args: argparse.Namespace, sinks: list[Sink], osc: OscSink | None, journal: Journal | None) -> str:
    parts = []
    for sink in sinks:
        if isinstance(sink, MidiSink):
            parts.append(f"MIDI port {getattr(sink.port, 'full_name', sink.port.name)}")
    if osc is not None:
        parts.append(f"OSC to {osc.target[0]}:{osc.target[1]}")
    if args.control is not None:
        parts.append(f"control on {args.control_host}:{args.control}")
    if journal is not None:
        parts.append(f"recording to {journal.path}")
    return READY_PREFIX + (", ".join(parts) or "no outputs") + " (Ctrl-C to stop)"


def _on_signals(session: _Session) -> None:
    """SIGTERM and SIGINT end the run cleanly (every note silenced); a second SIGINT interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        return
    interrupted = {"count": 0}

    def stop(signum: int, _frame: FrameType | None) -> None:
        interrupted["count"] += 1
        if signum == signal.SIGINT and interrupted["count"] > 1:
            raise KeyboardInterrupt
        session.stopping = True
        if session.runner is not None:
            session.runner.quit()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
