from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import pytest

from bridge.errors import DeviceError, VmbError
from bridge.live_presets import bundled_path, load_daw_preset
from bridge.osc import ControlDispatcher, ControlServer, OscArg, OscSink, decode, encode, parse_host_port
from bridge.types import NoteOff, NoteOn
from tests.peers import free_udp_port
from tests.peers.jack import need


class Target:
    """A controllable that records the commands it obeyed."""

    def __init__(self) -> None:
        self.obeyed: list[tuple[str, int | str | None]] = []

    def command(self, name: str, argument: int | str | None) -> str:
        if name == "preset" and argument == "missing":
            raise VmbError("no live preset named 'missing'")
        self.obeyed.append((name, argument))
        return "playing"

    def status_values(self) -> tuple[OscArg, ...]:
        return "playing", 1.5, 2, 45, 0


# Literal datagrams, byte for byte as OSC 1.0 lays them out.
PAUSE = b"/vmb/pause\x00\x00,\x00\x00\x00"
TRANSPOSE_12 = b"/vmb/transpose\x00\x00,i\x00\x00\x00\x00\x00\x0c"
TRANSPOSE_FLOAT = b"/vmb/transpose\x00\x00,f\x00\x00A@\x00\x00"  # 12.0 as Pure Data sends it
TRANSPOSE_TEXT = b"/vmb/transpose\x00\x00,s\x00\x00up\x00\x00"


def test_commands_from_literal_datagrams() -> None:
    target = Target()
    dispatcher = ControlDispatcher(target)
    assert dispatcher.handle_datagram(PAUSE) == [("/vmb/ok", ("pause", "playing"))]
    assert dispatcher.handle_datagram(TRANSPOSE_12) == [("/vmb/ok", ("transpose", "playing"))]
    assert dispatcher.handle_datagram(TRANSPOSE_FLOAT)[0][0] == "/vmb/ok"
    assert dispatcher.handle_datagram(encode("/vmb/status")) == [("/vmb/status", ("playing", 1.5, 2, 45, 0))]
    assert target.obeyed == [("pause", None), ("transpose", 12), ("transpose", 12)]


@pytest.mark.parametrize(("datagram", "says"), [
    (b"", "malformed OSC packet"),
    (b"\x00\x01garbage", "malformed OSC packet"),
    (b"/vmb/transpose\x00\x00,i\x00\x00\x00\x00", "malformed OSC packet"),  # argument cut off
    (encode("/vmb/explode"), "unknown address /vmb/explode"),
    (encode("/other/pause"), "unknown address /other/pause"),
    (TRANSPOSE_TEXT, "takes one int argument"),
    (encode("/vmb/transpose"), "takes one int argument, got 0"),
    (encode("/vmb/pause", [1]), "takes no arguments"),
    (encode("/vmb/preset", ["missing"]), "no live preset named 'missing'"),
])
def test_bad_messages_are_answered_with_an_error_and_change_nothing(datagram: bytes, says: str) -> None:
    target = Target()
    replies = ControlDispatcher(target).handle_datagram(datagram)
    assert len(replies) == 1 and replies[0][0] == "/vmb/error"
    assert says in str(replies[0][1][0])
    assert target.obeyed == []


def test_control_server_answers_the_sender_on_localhost() -> None:
    target = Target()
    server = ControlServer(ControlDispatcher(target), 0)
    assert server.address[0] == "127.0.0.1"
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    try:
        for datagram in (TRANSPOSE_12, b"junk", encode("/vmb/status")):
            client.sendto(datagram, server.address)
        replies = [decode(client.recvfrom(65536)[0])[0] for _ in range(3)]
    finally:
        client.close()
        server.close()
    assert replies[0] == ("/vmb/ok", ("transpose", "playing"))
    assert replies[1][0] == "/vmb/error"
    assert replies[2] == ("/vmb/status", ("playing", pytest.approx(1.5), 2, 45, 0))


def test_control_port_in_use_is_a_clear_error() -> None:
    first = ControlServer(ControlDispatcher(Target()), 0)
    try:
        with pytest.raises(DeviceError, match="choose another --control port"):
            ControlServer(ControlDispatcher(Target()), first.address[1])
    finally:
        first.close()


def test_host_port_parsing() -> None:
    assert parse_host_port("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_host_port(":8000") == ("127.0.0.1", 8000)
    for bad in ("9000x", "host:", "host:70000"):
        with pytest.raises(DeviceError, match="HOST:PORT"):
            parse_host_port(bad)



def oscdump_lines(port: int, actions: list[Callable[[], None]]) -> list[str]:
    """Starts oscdump on ``port``, runs each action (a sink call), returns what oscdump printed."""
    dump = subprocess.Popen(["stdbuf", "-oL", "oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    return_lines: list[str] = []
    try:
        for action in actions:
            action()
            time.sleep(0.01)
        time.sleep(0.3)
    finally:
        dump.terminate()
        out, _ = dump.communicate(timeout=5)
    for line in out.splitlines():
        return_lines.append(line.split(" ", 1)[1] if " " in line else line)  # drop oscdump's timetag
    return return_lines


def test_oscdump_receives_native_messages() -> None:
    need("oscdump")
    port = free_udp_port()
    sink = OscSink("127.0.0.1", port)
    lines = oscdump_lines(port, [
        lambda: sink.edge(NoteOn(0.5, 60, 100, 1)),
        lambda: sink.control(0.6, 64, 127, 1),
        lambda: sink.hand(0.7, "left", 0.25, 0.5, 0.75, 0.0),
        lambda: sink.edge(NoteOff(0.8, 60, 1)),
        lambda: sink.edge(NoteOff(0.9, 61, 1)),  # never on: not sent
        lambda: sink.status("playing", 1.0, 0, 30, 0),
    ])
    assert lines == [
        "/vmb/note/on iiif 60 100 1 0.500000",
        "/vmb/cc iiif 64 127 1 0.600000",
        "/vmb/hand/left fffff 0.250000 0.500000 0.750000 0.000000 0.700000",
        "/vmb/note/off iif 60 1 0.800000",
        "/vmb/status sfiii \"playing\" 1.000000 0 30 0",
    ]


def test_reaper_preset_translates_notes_to_the_virtual_keyboard() -> None:
    need("oscdump")
    port = free_udp_port()
    sink = OscSink("127.0.0.1", port, load_daw_preset(bundled_path("daw", "reaper")))
    lines = oscdump_lines(port, [
        lambda: sink.edge(NoteOn(0.5, 64, 90, 1)),
        lambda: sink.transport(True),
        lambda: sink.panic(),
    ])
    assert lines == ["/vkb_midi/1/note/64 i 90", "/play ", "/vkb_midi/1/note/64 i 0"]
