from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import DeviceError
from bridge.midi_ports import JOIN_QUIET_S, JOIN_WAIT_S, RECONNECT_INTERVAL_S, ArrivalClock, MidiSink, open_port
from bridge.types import NoteEdge, NoteOff, NoteOn
from tests.peers.jack import WAIT_S, JackServer, at_least, ends_with, jack, midi_dump, mido_input
from tests.test_live import assert_paired, hex_to_edges

__all__ = ["jack"]


class ListPort:
    """A port that keeps what it carries; ``up`` False makes it refuse like a port whose server went away."""

    name = "list"

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.up = True
        self.generation = 1
        self.polls: list[bool] = []  # the ``quiet`` of every poll

    @property
    def connected(self) -> bool:
        return self.up

    def send(self, message: bytes) -> bool:
        if self.up:
            self.messages.append(message)
        return self.up

    join_due = False

    def poll(self, quiet: bool = True) -> None:
        self.polls.append(quiet)

    def drain(self) -> None:
        return None

    def close(self) -> None:
        return None


def on(pitch: int, channel: int = 0, velocity: int = 100) -> NoteOn:
    return NoteOn(0.0, pitch, velocity, channel)


def off(pitch: int, channel: int = 0) -> NoteOff:
    return NoteOff(0.0, pitch, channel)


edges_strategy = st.lists(st.tuples(st.booleans(), st.integers(60, 63), st.integers(0, 1), st.booleans()),
                          max_size=40)


@settings(max_examples=80, deadline=None)
@given(edges_strategy)
def test_every_note_on_carried_gets_exactly_one_note_off(script: list[tuple[bool, int, int, bool]]) -> None:
    port = ListPort()
    sink = MidiSink(port)
    for is_on, pitch, channel, port_up in script:
        if port.up != port_up:
            port.up = port_up
            if port_up:
                port.generation += 1
                port.messages.append(b"")  # a reconnection: what sounded before is gone with the old server
        sink.edge(on(pitch, channel) if is_on else off(pitch, channel))
    if not port.up:  # the server comes back: a new generation
        port.up, port.generation = True, port.generation + 1
        port.messages.append(b"")
    sink.panic()
    sounding: set[tuple[int, int]] = set()
    for message in port.messages:
        if not message:
            sounding.clear()
            continue
        status, pitch = message[0], message[1]
        key = (status & 0x0F, pitch)
        if status & 0xF0 == 0x90:
            assert key not in sounding, "a note on while the same note sounds"
            sounding.add(key)
        elif status & 0xF0 == 0x80:
            assert key in sounding, "a note off without its note on"
            sounding.remove(key)
    assert not sounding, "a note left hanging"


def test_panic_silences_everything_and_sends_all_notes_off() -> None:
    port = ListPort()
    sink = MidiSink(port)
    for edge in (on(60), on(64, 1), off(60), on(67, 1)):
        sink.edge(edge)
    assert sink.panic() == 2
    assert port.messages[-6:] == [bytes([0x81, 64, 0]), bytes([0x81, 67, 0]), bytes([0xB0, 64, 0]),
                                  bytes([0xB0, 123, 0]), bytes([0xB1, 64, 0]), bytes([0xB1, 123, 0])]
    assert sink.sounding == []


def test_notes_from_before_the_port_went_away_get_no_note_off() -> None:
    port = ListPort()
    sink = MidiSink(port)
    sink.edge(on(60))
    port.up = False
    sink.edge(on(62))  # not carried: its note off must not be sent either
    port.up, port.generation = True, 2
    sink.edge(off(60))
    sink.edge(off(62))
    assert port.messages == [bytes([0x90, 60, 100])]


def test_unknown_backend_and_missing_server_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeviceError, match="choose one of jack, alsa"):
        open_port("midiman", "vmb")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "vmb-no-such-server")
    with pytest.raises(DeviceError, match="no JACK server is running"):
        open_port("jack", "vmb")


def play(sink: MidiSink, edges: list[NoteEdge]) -> None:
    for edge in edges:
        sink.edge(edge)
        time.sleep(0.01)  # a few JACK cycles apart, as a performance would be


def test_jack_receivers_get_exactly_our_notes_in_order(jack: JackServer) -> None:
    dump, mido_in = midi_dump(jack), mido_input(jack)
    port = open_port("jack", "vmb-out", connect=[dump.port, mido_in.port])
    sink = MidiSink(port)
    edges: list[NoteEdge] = [on(60), on(64, 1, 90), off(60), on(60, 0, 70), off(64, 1), off(60)]
    play(sink, edges)
    sink.edge(on(72))
    sink.close()  # the note still sounding is ended by close
    expected = ["90 3C 64", "91 40 5A", "80 3C 00", "90 3C 46", "81 40 00", "80 3C 00", "90 48 64", "80 48 00",
                "B0 40 00", "B0 7B 00", "B1 40 00", "B1 7B 00"]
    assert dump.finish(at_least(len(expected))) == expected
    assert mido_in.finish(at_least(len(expected))) == expected


def test_jack_server_restart_keeps_going_and_sends_no_orphan_note_off(jack: JackServer) -> None:
    # the mido receiver's port appears once it runs (jack_midi_dump's before it activates: one started just after
    # the server can be connected and still miss the first messages)
    first = mido_input(jack)
    port = open_port("jack", "vmb-out", connect=[first.port])
    sink = MidiSink(port)
    play(sink, [on(60), off(60), on(62)])
    first_lines = first.wait_for(at_least(3), "the notes before the restart")
    jack.kill()
    first.finish(quiet_s=0)
    deadline = time.monotonic() + WAIT_S
    while port.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port.connected
    play(sink, [on(64), off(62)])  # nowhere to go: dropped, and 64 must not get a note off later
    jack.start()
    second = mido_input(jack)
    deadline = time.monotonic() + WAIT_S
    while not (port.connected and "vmb-out" in jack.ports("-c")) and time.monotonic() < deadline:
        sink.poll()
        time.sleep(0.05)
    assert port.connected and port.generation == 2
    while not jack.connected(second.port) and time.monotonic() < deadline:
        sink.poll()
        time.sleep(0.05)
    play(sink, [off(64), on(65), off(65), on(67)])
    sink.close()
    assert first_lines == ["90 3C 64", "80 3C 00", "90 3E 64"]
    assert second.finish(ends_with("B0 7B 00")) == ["90 41 64", "80 41 00", "90 43 64", "80 43 00", "B0 40 00",
                                                    "B0 7B 00"]


def test_a_late_receiver_joins_only_when_no_note_sounds() -> None:
    port = ListPort()
    sink = MidiSink(port)
    sink.poll()
    sink.edge(on(60))
    sink.poll()
    sink.edge(off(60))
    sink.poll()  # the note off may still be on its way: a receiver joining now could hear it alone
    time.sleep(JOIN_QUIET_S + 0.05)
    sink.poll()
    assert port.polls == [True, False, False, True]


def test_a_jack_receiver_that_appears_mid_note_hears_whole_notes_only(jack: JackServer) -> None:
    port = open_port("jack", "vmb-out", connect=["midi-monitor:input"])
    sink = MidiSink(port)
    sink.edge(on(60))  # sounds before the receiver exists
    dump = midi_dump(jack)

    def poll_until(condition: Callable[[], bool], limit: float = WAIT_S) -> None:
        deadline = time.monotonic() + limit
        while not condition() and time.monotonic() < deadline:
            sink.poll()
            time.sleep(0.05)

    poll_until(lambda: False, limit=3 * RECONNECT_INTERVAL_S)  # several chances to connect, all declined
    assert not jack.connected(dump.port), "a receiver joining while 60 sounds would hear its note off alone"
    sink.edge(off(60))
    poll_until(lambda: jack.connected(dump.port))
    play(sink, [on(62), off(62)])
    sink.close()
    assert dump.finish(ends_with("B0 7B 00")) == ["90 3E 64", "80 3E 00", "B0 40 00", "B0 7B 00"]


def test_a_jack_receiver_waiting_while_the_music_never_pauses_joins_after_what_sounds_ends(jack: JackServer) -> None:
    """Notes that overlap leave no quiet moment to join in: after JOIN_WAIT_S the sounding notes end first, so the
    receiver hears whole notes only (it once heard a note off whose note on it missed: the JACK restart test of
    vmb live failed now and then, where the monitor appeared after vmb found the new server)."""
    port = open_port("jack", "vmb-out", connect=["midi-monitor:input"])
    sink = MidiSink(port)
    sink.edge(on(60))
    dump = midi_dump(jack)  # appears while 60 sounds
    pitch, started = 60, time.monotonic()
    while not jack.connected(dump.port) and time.monotonic() - started < JOIN_WAIT_S + WAIT_S:
        pitch = 60 + (pitch - 59) % 12  # the next note starts before the one before ends: never quiet
        sink.edge(on(pitch))
        sink.edge(off(60 + (pitch - 61) % 12))
        sink.poll()
        time.sleep(0.05)
    assert jack.connected(dump.port)
    for _ in range(6):
        pitch = 60 + (pitch - 59) % 12
        play(sink, [on(pitch), off(60 + (pitch - 61) % 12)])
        time.sleep(0.05)
    sink.close()
    lines = dump.finish(ends_with("B0 7B 00"))
    assert_paired(hex_to_edges(lines), lines)
    assert len([line for line in lines if line.startswith("9")]) >= 5


def test_a_receiver_jack_will_not_connect_never_cuts_the_notes_short(jack: JackServer) -> None:
    """An audio port given as a MIDI receiver exists but cannot be connected: waiting for it must not end the
    sounding notes early again and again (the receivers that are connected hear exactly the notes played)."""
    mido_in = mido_input(jack)
    port = open_port("jack", "vmb-out", connect=[mido_in.port, "system:playback_1"])
    sink = MidiSink(port)
    expected, pitch, started = [], 60, time.monotonic()
    sink.edge(on(60))
    expected.append("90 3C 64")
    while time.monotonic() - started < JOIN_WAIT_S + 2 * RECONNECT_INTERVAL_S + 0.5:
        pitch = 60 + (pitch - 59) % 12  # never quiet
        play(sink, [on(pitch), off(60 + (pitch - 61) % 12)])
        expected += [f"90 {pitch:02X} 64", f"80 {60 + (pitch - 61) % 12:02X} 00"]
        sink.poll()
        time.sleep(0.05)
    sink.close()
    expected += [f"80 {pitch:02X} 00", "B0 40 00", "B0 7B 00"]
    assert mido_in.finish(ends_with("B0 7B 00")) == expected


def test_an_input_dates_its_messages_from_the_gaps_between_them() -> None:
    """Messages truly arrive at 100.000, 100.010 and 100.020 s; reads come 5 ms and then 0.1 ms late. The first
    read can only bound the offset; the quicker one pins it, and the order and bytes are kept."""
    clock = ArrivalClock()
    first = clock.stamp([(b"\xf1\x00", 0.0), (b"\xf1\x10", 0.010)], read_at=100.015)
    assert [message for _, message in first] == [b"\xf1\x00", b"\xf1\x10"]
    assert [t for t, _ in first] == pytest.approx([100.005, 100.015], abs=1e-9)
    assert clock.stamp([], read_at=100.017) == []
    later = clock.stamp([(b"\xf1\x20", 0.010)], read_at=100.0201)
    assert later == [(pytest.approx(100.0201, abs=1e-9), b"\xf1\x20")]
    again = clock.stamp([(b"\xf1\x30", 0.010)], read_at=100.04)  # a slow read does not undo what was learnt
    assert again[0][0] == pytest.approx(100.0301, abs=1e-9)
