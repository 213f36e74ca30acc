from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.decoding import notes_from_edges
from bridge.errors import VmbError
from bridge.journal import read_take
from bridge.live import LiveRunner
from bridge.live_presets import LivePreset
from bridge.midi import read_midi, tracks_by_channel, write_midi
from bridge.osc import decode, encode
from bridge.sources import Pacer, ReplaySource, Step
from bridge.types import Note, NoteEdge, NoteOn, notes_to_edges
from tests.peers import free_udp_port
from tests.peers.jack import (
    PEERS,
    WAIT_S,
    JackServer,
    LineReader,
    at_least,
    ends_with,
    jack,
    midi_dump,
    mido_input,
    need,
)

__all__ = ["jack"]


class ListSink:
    """Keeps every edge and control it is given; counts panics."""

    def __init__(self) -> None:
        self.edges: list[NoteEdge] = []
        self.controls: list[tuple[int, int, int]] = []
        self.panics = 0
        self.closed = False

    def edge(self, edge: NoteEdge) -> None:
        self.edges.append(edge)

    def control(self, t: float, control: int, value: int, channel: int) -> None:
        self.controls.append((control, value, channel))

    def pitch_bend(self, t: float, value: int, channel: int) -> None:
        self.controls.append((-1, value, channel))

    def panic(self) -> None:
        self.panics += 1

    def poll(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def scale(n: int = 8, step: float = 0.25, length: float = 0.2, low: int = 55) -> list[Note]:
    return [Note(i * step, i * step + length, low + 2 * i, 60 + i, 0) for i in range(n)]


def assert_paired(edges: list[NoteEdge], context: object = "") -> None:
    """Every note on gets exactly one note off, and no note off comes without its note on."""
    sounding: set[tuple[int, int]] = set()
    for edge in edges:
        key = (edge.channel, edge.pitch)
        if isinstance(edge, NoteOn):
            assert key not in sounding, f"note on while the note sounds: {edge} {context}"
            sounding.add(key)
        else:
            assert key in sounding, f"note off without note on: {edge} {context}"
            sounding.remove(key)
    assert not sounding, f"hanging notes: {sounding} {context}"


def test_replay_splits_hands_onto_channels_and_transposes() -> None:
    sink = ListSink()
    runner = LiveRunner(ReplaySource(scale()), [sink], LivePreset(split_pitch=60, left_channel=2, right_channel=5))
    runner.command("transpose", 12)
    runner.run()
    assert_paired(sink.edges)
    notes = notes_from_edges(sink.edges)
    assert [(n.pitch, n.channel) for n in notes] == [(p + 12, 2 if p < 60 else 5) for p in range(55, 71, 2)]
    assert [n.start for n in notes] == [n.start for n in scale()]
    assert sink.closed and sink.panics >= 1


def test_transpose_while_a_note_sounds_ends_the_note_it_started() -> None:
    sink = ListSink()
    runner = LiveRunner(ReplaySource([Note(0.0, 1.0, 60)]), [sink])
    source_steps = iter(runner.source.steps(0.0, threading.Event()))
    runner._process(next(source_steps))
    runner.command("transpose", 5)
    runner._process(next(source_steps))
    assert [(type(e).__name__, e.pitch) for e in sink.edges] == [("NoteOn", 60), ("NoteOff", 60)]


def run_in_thread(runner: LiveRunner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def test_pause_silences_and_holds_resume_goes_on_stop_ends_everything() -> None:
    sink = ListSink()
    pacer = Pacer()
    runner = LiveRunner(ReplaySource(scale(12, step=0.1, length=0.25), pacer), [sink], pacer=pacer, keep_alive=True)
    thread = run_in_thread(runner)
    time.sleep(0.35)
    runner.command("pause", None)
    assert runner.mapper.sounding == 0
    during_pause = len(sink.edges)
    time.sleep(0.4)
    assert len(sink.edges) == during_pause, "nothing may sound while paused"
    runner.command("resume", None)
    time.sleep(0.3)
    runner.command("stop", None)
    assert runner.state == "stopped" and runner.mapper.sounding == 0
    runner.quit()
    thread.join(5)
    assert not thread.is_alive()
    assert_paired(sink.edges)
    played = [e.pitch for e in sink.edges if isinstance(e, NoteOn)]
    assert 3 <= len(played) < 12 and played == sorted(played), "a pause holds the file where it is"


def test_an_error_in_the_source_silences_every_note() -> None:
    class Failing:
        def steps(self, start: float, halt: threading.Event) -> Iterator[Step]:
            yield Step(0.0, [NoteOn(0.0, 60, 90), NoteOn(0.0, 64, 90)])
            raise RuntimeError("the model crashed")

        def recalibrate(self) -> str:
            raise VmbError("nothing to recalibrate")

    sink = ListSink()
    with pytest.raises(RuntimeError, match="crashed"):
        LiveRunner(Failing(), [sink]).run()
    assert_paired(sink.edges)
    assert sink.closed


def test_recalibrate_without_a_picture_is_refused() -> None:
    runner = LiveRunner(ReplaySource(scale(2)), [ListSink()])
    with pytest.raises(VmbError, match="no camera picture"):
        runner.command("recalibrate", None)


# --- the command with real peers ------------------------------------------------------------------------


def write_song(path: Path, notes: list[Note]) -> Path:
    write_midi(path, tracks_by_channel(notes))
    return path


class VmbLive:
    """A ``vmb live`` process whose output is read as it comes, so a test can wait for a log line."""

    def __init__(self, args: tuple[str, ...]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bridge", "live", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.pid = self.process.pid
        self.out, self.err = LineReader(self.process.stdout), LineReader(self.process.stderr)

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_logged(self, text: str, timeout: float = WAIT_S) -> None:
        self.err.wait_for(lambda lines: any(text in line for line in lines), f"vmb live to log {text!r}", timeout)

    def finish(self, timeout: float = WAIT_S, signal_number: int | None = None) -> tuple[int, str, str]:
        """Exit status, stdout and stderr once it ended (after ``signal_number``, if given)."""
        if signal_number is not None:
            self.process.send_signal(signal_number)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"vmb live did not end within {timeout:.0f} s: {self.err.lines}") from exc
        self.out.join()
        self.err.join()
        return code, "\n".join(self.out.lines), "\n".join(self.err.lines)


_started: list[VmbLive] = []


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """A failed test must not leave a vmb live running into the next test's JACK server."""
    yield
    while _started:
        live = _started.pop()
        if live.running():
            live.process.kill()
            live.process.wait(timeout=30)


def vmb_live(*args: str) -> VmbLive:
    live = VmbLive(args)
    _started.append(live)
    return live


def expected_hex(notes: list[Note], split: int = 60) -> list[str]:
    lines = []
    for edge in notes_to_edges(notes):
        channel = 0 if edge.pitch < split else 1
        if isinstance(edge, NoteOn):
            lines.append(f"{0x90 | channel:02X} {edge.pitch:02X} {edge.velocity:02X}")
        else:
            lines.append(f"{0x80 | channel:02X} {edge.pitch:02X} 00")
    return lines


def test_jack_receivers_get_exactly_the_replayed_notes(jack: JackServer, tmp_path: Path) -> None:
    notes = scale(6, step=0.15, length=0.1)
    song = write_song(tmp_path / "song.mid", notes)
    dump, mido_in = midi_dump(jack), mido_input(jack)
    live = vmb_live("--replay", str(song), "--realtime", "--midi-backend", "jack", "--midi-out", "vmbtest",
                    "--midi-connect", dump.port, "--midi-connect", mido_in.port)
    code, out, err = live.finish()
    assert code == 0, err
    expected = [*expected_hex(notes), "B0 40 00", "B0 7B 00", "B1 40 00", "B1 7B 00"]
    assert dump.finish(at_least(len(expected))) == expected
    assert mido_in.finish(at_least(len(expected))) == expected
    assert "12 note edges sent" in out


def test_sigterm_silences_every_note_and_closes_the_recording(jack: JackServer, tmp_path: Path) -> None:
    song = write_song(tmp_path / "song.mid", [Note(0.1, 30.0, 60, 90), Note(0.2, 30.0, 48, 80)])
    dump = midi_dump(jack)
    live = vmb_live("--replay", str(song), "--realtime", "--midi-backend", "jack", "--midi-out", "vmbterm",
                    "--midi-connect", dump.port, "--record", str(tmp_path / "takes"))
    dump.wait_for(at_least(2), "both note ons")
    time.sleep(1.0)  # the notes sound for a second of stream time (the pacer follows the wall clock)
    code, _, err = live.finish(signal_number=signal.SIGTERM)
    assert code == 0, err
    assert dump.finish(at_least(8)) == ["91 3C 5A", "90 30 50", "80 30 00", "81 3C 00",
                                        "B0 40 00", "B0 7B 00", "B1 40 00", "B1 7B 00"]
    midi = next((tmp_path / "takes").glob("*.mid"))
    notes = read_midi(midi).notes
    assert [(n.pitch, n.channel) for n in notes] == [(60, 1), (48, 0)]
    assert all(1.0 < n.end < 10.0 for n in notes), "the notes end when the run was stopped"


def test_kill_9_then_recover_keeps_all_but_the_last_100_ms(tmp_path: Path) -> None:
    notes = [Note(i * 0.05, i * 0.05 + 0.12, 40 + i % 40, 80, 0) for i in range(40)]
    song = write_song(tmp_path / "song.mid", notes)
    watcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    watcher.bind(("127.0.0.1", 0))
    watcher.settimeout(60)  # the first note comes once the process has started (slow on a loaded machine)
    takes = tmp_path / "takes"
    live = vmb_live("--replay", str(song), "--realtime", "--loop", "--midi-backend", "none",
                    "--osc", f"127.0.0.1:{watcher.getsockname()[1]}", "--record", str(takes))
    seen_on: list[tuple[int, float]] = []
    while len(seen_on) < 50:  # well into the second pass of the loop
        address, args = decode(watcher.recvfrom(65536)[0])[0]
        if address == "/vmb/note/on":
            seen_on.append((int(args[0]), float(args[3])))
    os.kill(live.pid, signal.SIGKILL)
    live.finish()
    watcher.settimeout(0.2)
    try:
        while True:
            address, args = decode(watcher.recvfrom(65536)[0])[0]
            if address == "/vmb/note/on":
                seen_on.append((int(args[0]), float(args[3])))
    except TimeoutError:
        watcher.close()
    assert not list(takes.glob("*.mid")), "a killed run cannot have written its MIDI file"
    recovered = subprocess.run([sys.executable, "-m", "bridge", "recover", str(takes)], capture_output=True,
                               text=True, timeout=60)
    assert recovered.returncode == 0 and "recovered" in recovered.stdout
    take = next(takes.glob("*.vmbj"))
    midi_notes = read_midi(take.with_suffix(".mid")).notes
    _, _, finished = read_take(take)
    assert not finished
    # Every note on that left the process (seen over OSC) is in the recovered file, at its time.
    assert [(n.pitch, round(n.start, 3)) for n in midi_notes] == [(p, round(t, 3)) for p, t in seen_on]
    last_heard = max(t for _, t in seen_on)
    assert all(n.end <= last_heard + 0.12 + 1e-3 for n in midi_notes)



def test_pure_data_receives_notes_and_its_pause_transpose_panic_are_obeyed(tmp_path: Path) -> None:
    need("pd")
    # Notes far enough apart that Pd's replies (transpose after the second, pause 0.3 s after the fourth) reach
    # vmb before the next note is due, however slow the machine.
    notes = [Note(0.3 + i * 1.0, 0.3 + i * 1.0 + 0.3, 60 + i, 100, 0) for i in range(10)]
    song = write_song(tmp_path / "song.mid", notes)
    pd_port, control_port = free_udp_port(), free_udp_port()
    pd = subprocess.Popen(["stdbuf", "-oL", "pd", "-nogui", "-stderr", "-nosound", "-nomidi", "-nrt", "-open",
                           str(PEERS / "control.pd"), "-send", f"vmbtest listen {pd_port}",
                           "-send", f"vmbtest connect {control_port}"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pd_lines: list[str] = []
    reader = threading.Thread(target=lambda: pd_lines.extend(iter(pd.stdout.readline, "")) if pd.stdout else None,
                              daemon=True)
    reader.start()
    wait_udp_bound(pd_port)
    live = vmb_live("--replay", str(song), "--realtime", "--midi-backend", "none", "--osc", f"127.0.0.1:{pd_port}",
                    "--control", str(control_port), "--record", str(tmp_path / "takes"))
    try:
        deadline = time.monotonic() + 90
        while not any("pause" in line for line in pd_lines if line.startswith("reply:")):
            assert time.monotonic() < deadline and live.running(), "".join(pd_lines)
            time.sleep(0.05)
        time.sleep(1.0)  # paused: nothing more may reach Pd
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(10)
            client.sendto(encode("/vmb/status"), ("127.0.0.1", control_port))
            status = decode(client.recvfrom(65536)[0])[0]
    finally:
        code, _, err = live.finish(signal_number=signal.SIGTERM)
        pd.terminate()
        pd.wait(timeout=10)
        reader.join(5)
    assert code == 0, err
    assert status[0] == "/vmb/status" and status[1][0] == "paused"
    heard = [int(float(line.split()[1])) for line in pd_lines if line.startswith("note-on:")]
    assert heard == [60, 61, 74, 75], pd_lines  # transposed after the second, paused after the fourth
    replies = [line.split() for line in pd_lines if line.startswith("reply:")]
    assert [(r[3], r[4]) for r in replies] == [("ok", "transpose"), ("ok", "panic"), ("ok", "pause")], pd_lines
    recorded = read_midi(next((tmp_path / "takes").glob("*.mid"))).notes
    assert [n.pitch for n in recorded] == [60, 61, 74, 75]
    assert all(n.end - n.start <= 0.31 for n in recorded), "panic and pause end the sounding notes"


def test_jack_restart_mid_stream_the_run_goes_on_without_orphan_note_offs(jack: JackServer, tmp_path: Path) -> None:
    notes = [Note(i * 0.1, i * 0.1 + 0.15, 60 + i % 12, 90, 0) for i in range(20)]
    song = write_song(tmp_path / "song.mid", notes)
    # receivers whose port appears only once they run (jack_midi_dump registers its port before it activates: one
    # started just after the server could be connected and miss vmb's first note on, or hear nothing at all)
    first = mido_input(jack)
    live = vmb_live("--replay", str(song), "--realtime", "--loop", "--midi-backend", "jack", "--midi-out",
                    "vmbrestart", "--midi-connect", "vmbrecv:in")
    first.wait_count("91", 5)
    jack.kill()
    first.finish(quiet_s=0)
    live.wait_logged("went away")
    jack.start()
    second = mido_input(jack)  # appears before or after vmb finds the new server: both orders must work
    live.wait_logged("is back")
    second.wait_count("91", 5)
    assert live.running(), "the run must survive the JACK server going away"
    code, _, err = live.finish(signal_number=signal.SIGTERM)
    assert code == 0, err
    # vmb ends every note it started on the new server, then sends all-notes-off on the channel it used.
    second_lines = second.finish(ends_with("B1 7B 00"))
    assert_paired(hex_to_edges(second_lines), (second_lines, err))


def hex_to_edges(lines: list[str]) -> list[NoteEdge]:
    from bridge.types import NoteOff

    edges: list[NoteEdge] = []
    for line in lines:
        status, pitch, velocity = (int(b, 16) for b in line.split())
        if status & 0xF0 == 0x90 and velocity:
            edges.append(NoteOn(0.0, pitch, velocity, status & 0x0F))
        elif status & 0xF0 in (0x80, 0x90):
            edges.append(NoteOff(0.0, pitch, status & 0x0F))
    return edges


def test_jack_receivers_get_exactly_the_notes_vmb_transcribe_finds_in_the_video(jack: JackServer,
                                                                               tmp_path: Path) -> None:
    import numpy as np

    from bridge.errors import ModelError
    from bridge.model import KeyModel
    from bridge.notes_csv import read_notes_csv
    from bridge.synth.render import RenderConfig, render_to_files, true_geometry

    try:
        KeyModel.load()
    except ModelError as exc:
        pytest.skip(f"no key model installed: {exc}")
    played = [Note(0.2, 0.9, 60, 90), Note(0.5, 1.4, 64, 70), Note(1.0, 1.6, 43, 100)]
    video, labels_path = tmp_path / "clip.mp4", tmp_path / "clip.npz"
    render_to_files(played, RenderConfig(size=(640, 360), fps=30, duration=2.0), video, labels_path)
    labels = np.load(labels_path)
    calibration = tmp_path / "calib.json"
    true_geometry(labels).save(calibration)
    transcribed = subprocess.run([sys.executable, "-m", "bridge", "transcribe", str(video), "-o",
                                  str(tmp_path / "t.mid"), "--calibration", str(calibration), "--notes",
                                  str(tmp_path / "t.csv"), "--method", "keys"], capture_output=True, text=True,
                                 timeout=300)
    assert transcribed.returncode == 0, transcribed.stderr
    found = read_notes_csv(tmp_path / "t.csv")
    dump, mido_in = midi_dump(jack), mido_input(jack)
    live = vmb_live("--video", str(video), "--calibration", str(calibration), "--realtime", "--midi-backend",
                    "jack", "--midi-out", "vmbvideo", "--midi-connect", dump.port, "--midi-connect", mido_in.port)
    code, _, err = live.finish(timeout=300)
    assert code == 0, err
    assert found, "the key model found none of the played notes"
    # At one instant the decoder sends note offs first, then note ons, each in pitch order.
    edges = sorted(notes_to_edges(found), key=lambda e: (e.t, isinstance(e, NoteOn), e.pitch))
    expected = [f"{(0x90 if isinstance(e, NoteOn) else 0x80) | e.channel:02X} {e.pitch:02X} "
                f"{e.velocity if isinstance(e, NoteOn) else 0:02X}" for e in edges]
    channels = sorted({e.channel for e in edges})
    expected += [f"B{channel:X} {control} 00" for channel in channels for control in ("40", "7B")]
    assert dump.finish(at_least(len(expected))) == expected
    assert mido_in.finish(at_least(len(expected))) == expected


def test_bundled_presets_load_and_bad_ones_are_refused(tmp_path: Path) -> None:
    from bridge.errors import PresetError
    from bridge.live_presets import PRESETS_DIR, bundled_path, load_daw_preset, load_live_preset

    daws = {p.stem: load_daw_preset(p) for p in sorted((PRESETS_DIR / "daw").glob("*.toml"))}
    assert set(daws) >= {"ableton", "reaper", "bitwig", "generic"}
    assert daws["ableton"].osc_port == 11000 and not daws["ableton"].native
    assert load_live_preset(bundled_path("live", "octave-up")).transpose == 12
    for name in ("../daw/reaper", "/etc/passwd", "two hands"):
        with pytest.raises(PresetError, match="not a plain name"):
            bundled_path("live", name)
    with pytest.raises(PresetError, match=r"choose one of .*two-hands"):
        bundled_path("live", "nonesuch")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nsplit_pitch = 60\nleft_chanel = 3\n')
    with pytest.raises(PresetError, match=r"unknown key.*left_chanel"):
        load_live_preset(bad)
    bad.write_text('split_pitch = "C4"\n')
    with pytest.raises(PresetError, match="split_pitch must be int"):
        load_live_preset(bad)
    bad.write_text('name = "x"\n[messages]\nnote_on = ["vkb", 1]\n')
    with pytest.raises(PresetError, match="must start with an OSC address"):
        load_daw_preset(bad)


def test_preset_by_name_over_control_changes_the_channels() -> None:
    sink = ListSink()
    runner = LiveRunner(ReplaySource([Note(0.0, 0.1, 50), Note(0.2, 0.3, 50)]), [sink])
    steps = runner.source.steps(0.0, threading.Event())
    runner._process(next(steps))
    assert runner.command("preset", "one-channel") == "one-channel"
    for step in steps:
        runner._process(step)
    assert [(type(e).__name__, e.channel) for e in sink.edges] == [("NoteOn", 0), ("NoteOff", 0), ("NoteOn", 0),
                                                                   ("NoteOff", 0)]
    with pytest.raises(VmbError, match="not a plain name"):
        runner.command("preset", "../daw/reaper")


def wait_udp_bound(port: int, timeout: float = WAIT_S) -> None:
    """Until something (a peer starting up) has bound the UDP port on 127.0.0.1."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return
        assert time.monotonic() < deadline, f"nothing listens on UDP port {port}"
        time.sleep(0.05)


def test_the_port_is_polled_before_a_steps_notes_so_a_late_receiver_joins_after_a_pause() -> None:
    from bridge.midi_ports import JOIN_QUIET_S, MidiSink
    from tests.test_midi_ports import ListPort

    port = ListPort()
    runner = LiveRunner(ReplaySource([Note(0.0, 0.1, 60), Note(5.0, 5.1, 62)]), [MidiSink(port)])
    steps = runner.source.steps(0.0, threading.Event())
    runner._process(next(steps))  # note on 60
    runner._process(next(steps))  # note off 60
    time.sleep(JOIN_QUIET_S + 0.05)  # a pause: the note off has left
    runner._process(next(steps))  # note on 62: a receiver may join just before it
    runner._process(next(steps))
    assert port.polls == [True, False, True, False]


def test_controls_reach_the_midi_port_osc_and_the_recording(tmp_path: Path) -> None:
    from bridge.journal import Journal
    from bridge.midi_ports import MidiSink
    from bridge.osc import OscSink
    from tests.test_midi_ports import ListPort

    port = ListPort()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    journal = Journal(tmp_path)
    runner = LiveRunner(ReplaySource(scale(1)), [MidiSink(port)], osc=OscSink(*receiver.getsockname()),
                        journal=journal)
    runner.send_control(64, 127, 0)
    runner.send_pitch_bend(8191, 0)
    runner.send_pitch_bend(-8192, 0)
    runner.send_osc("/custom/fader", [0.5])
    runner.send_hand("right", 0.1, 0.2, 0.3, 0.4)
    received = [decode(receiver.recvfrom(65536)[0])[0] for _ in range(5)]
    receiver.close()
    runner.run()
    assert port.messages[:3] == [bytes([0xB0, 64, 127]), bytes([0xE0, 0x7F, 0x7F]), bytes([0xE0, 0, 0])]
    assert [address for address, _ in received] == ["/vmb/cc", "/vmb/pitchbend", "/vmb/pitchbend",
                                                    "/custom/fader", "/vmb/hand/right"]
    controls = read_midi(journal.midi_path).tracks
    assert [(c.control, c.value, c.channel) for t in controls for c in t.controls] == [(64, 127, 0)]
