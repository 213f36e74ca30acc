"""OSC out (note events, controls, hands, a status heartbeat) and OSC control in; see docs/osc.md.

Routing is kept apart from transport: :class:`ControlDispatcher` turns one OSC message into one reply
(and is tested from literal datagrams); :class:`ControlServer` is only the UDP socket around it,
bound to 127.0.0.1 unless told otherwise. Unknown addresses, wrong arguments and malformed packets
are answered with ``/vmb/error`` and change nothing.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError

from bridge.errors import DeviceError, VmbError
from bridge.live_presets import DawPreset
from bridge.types import NoteEdge, NoteOn

log = logging.getLogger(__name__)

OscArg = int | float | str
OscMessage = tuple[str, tuple[OscArg, ...]]
NATIVE = DawPreset(name="native")


def encode(address: str, args: Sequence[OscArg] = ()) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return bytes(builder.build().dgram)


def decode(datagram: bytes) -> list[OscMessage]:
    """Every message in a datagram (bundles flattened); raises VmbError when it is not OSC."""
    try:
        packet = OscPacket(datagram)
    except (ParseError, ValueError, IndexError, TypeError) as exc:
        raise VmbError(f"malformed OSC packet ({exc}): send OSC 1.0 messages") from exc
    return [(m.message.address, tuple(m.message.params)) for m in packet.messages]


def parse_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 1 <= number <= 65535:
        raise DeviceError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9000): give a port 1-65535")
    return host or default_host, number


# --- OSC out --------------------------------------------------------------------------------------------

_FIELD = re.compile(r"\{(\w+)\}")


def _render(template: Sequence[str], values: dict[str, OscArg]) -> OscMessage:
    """A preset's message template filled with an event's values (see DawPreset)."""
    address = _FIELD.sub(lambda m: str(values[m.group(1)]), template[0])
    args: list[OscArg] = []
    for part in template[1:]:
        whole = _FIELD.fullmatch(part)
        if whole:
            args.append(values[whole.group(1)])
            continue
        try:
            args.append(int(part))
        except ValueError:
            try:
                args.append(float(part))
            except ValueError:
                args.append(part)
    return address, tuple(args)


class OscSink:
    """Sends events to one OSC receiver: the native /vmb space and/or a DAW's messages (presets/daw/)."""

    def __init__(self, host: str, port: int, preset: DawPreset = NATIVE) -> None:
        self.target = (host, port)
        self.preset = preset
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sounding: set[tuple[int, int]] = set()
        self.sent = 0
        self.errors = 0
        self._quiet = True  # nothing sent since the last panic

    def _emit(self, event: str, native: OscMessage | None, values: dict[str, OscArg]) -> None:
        template = self.preset.messages.get(event)
        messages = [_render(template, values)] if template else []
        if native is not None and self.preset.native:
            messages.insert(0, native)
        self._quiet = event == "panic"
        for address, args in messages:
            try:
                self._socket.sendto(encode(address, args), self.target)
                self.sent += 1
            except OSError as exc:  # nobody listening, network down: OSC is fire and forget
                self.errors += 1
                log.debug("OSC to %s:%d failed: %s", *self.target, exc)

    def edge(self, edge: NoteEdge) -> None:
        channel = edge.channel + self.preset.channel_base
        key = (edge.channel, edge.pitch)
        if isinstance(edge, NoteOn):
            self._sounding.add(key)
            self._emit("note_on", ("/vmb/note/on", (edge.pitch, edge.velocity, edge.channel, edge.t)),
                       {"pitch": edge.pitch, "velocity": edge.velocity, "channel": channel, "t": edge.t})
        elif key in self._sounding:
            self._sounding.discard(key)
            self._emit("note_off", ("/vmb/note/off", (edge.pitch, edge.channel, edge.t)),
                       {"pitch": edge.pitch, "velocity": 0, "channel": channel, "t": edge.t})

    def control(self, t: float, control: int, value: int, channel: int) -> None:
        self._emit("cc", ("/vmb/cc", (control, value, channel, t)),
                   {"control": control, "value": value, "channel": channel + self.preset.channel_base, "t": t})

    def pitch_bend(self, t: float, value: int, channel: int) -> None:
        self._emit("pitch_bend", ("/vmb/pitchbend", (value, channel, t)),
                   {"value": value, "channel": channel + self.preset.channel_base, "t": t})

    def raw(self, address: str, args: Sequence[OscArg]) -> None:
        """A message as given (a gesture preset's own address), sent whatever the preset translates."""
        try:
            self._socket.sendto(encode(address, args), self.target)
            self.sent += 1
        except OSError as exc:
            self.errors += 1
            log.debug("OSC to %s:%d failed: %s", *self.target, exc)

    def hand(self, t: float, hand: str, position: float, height: float, openness: float, pinch: float) -> None:
        """Hand controls (smoothed upstream): each 0-1; ``hand`` is ``left`` or ``right``."""
        values: dict[str, OscArg] = {"hand": hand, "position": position, "height": height, "openness": openness,
                                     "pinch": pinch, "t": t}
        self._emit("hand", (f"/vmb/hand/{hand}", (position, height, openness, pinch, t)), values)

    def status(self, state: str, t: float, sounding: int, frames: int, dropped: int) -> None:
        self._emit("status", ("/vmb/status", (state, t, sounding, frames, dropped)),
                   {"state": state, "t": t, "sounding": sounding, "frames": frames, "dropped": dropped})

    def transport(self, playing: bool) -> None:
        event = "transport_start" if playing else "transport_stop"
        self._emit(event, ("/vmb/transport", (1 if playing else 0,)), {})

    def panic(self) -> None:
        if not self._sounding and self._quiet:
            return
        self._quiet = True
        for channel, pitch in sorted(self._sounding):
            self._emit("note_off", ("/vmb/note/off", (pitch, channel, 0.0)),
                       {"pitch": pitch, "velocity": 0, "channel": channel + self.preset.channel_base, "t": 0.0})
        self._sounding.clear()
        self._emit("panic", ("/vmb/panic", ()), {})

    def poll(self) -> None:
        return None

    def close(self) -> None:
        self.panic()
        self._socket.close()


# --- OSC control in -------------------------------------------------------------------------------------


class Controllable(Protocol):
    """What the control server drives (the live runner)."""

    def command(self, name: str, argument: int | str | None) -> str: ...

    def status_values(self) -> tuple[OscArg, ...]: ...


@dataclass(frozen=True, slots=True)
class CommandSpec:
    argument: type | None = None  # int, str or None (no argument)
    help: str = ""


COMMANDS: dict[str, CommandSpec] = {
    "start": CommandSpec(help="start streaming (from the beginning after a stop)"),
    "stop": CommandSpec(help="stop streaming and silence every note; the service keeps listening"),
    "pause": CommandSpec(help="hold (a video file stops where it is) and silence every note"),
    "resume": CommandSpec(help="go on after a pause"),
    "panic": CommandSpec(help="note off for every sounding note and all-notes-off"),
    "transpose": CommandSpec(int, "semitones (-48..48) added to every following note"),
    "preset": CommandSpec(str, "a live preset by name from presets/live/"),
    "recalibrate": CommandSpec(help="find the keyboard again in the current picture"),
    "status": CommandSpec(help="answered with /vmb/status state t sounding frames dropped"),
}


class ControlDispatcher:
    """One OSC message in, one reply out: ``/vmb/ok NAME DETAIL``, ``/vmb/status ...`` or ``/vmb/error TEXT``."""

    def __init__(self, target: Controllable) -> None:
        self.target = target

    def handle(self, address: str, args: Sequence[OscArg]) -> OscMessage:
        name = address.removeprefix("/vmb/") if address.startswith("/vmb/") else None
        spec = COMMANDS.get(name) if name else None
        if name is None or spec is None:
            known = ", ".join(f"/vmb/{c}" for c in COMMANDS)
            return "/vmb/error", (f"unknown address {address}: known are {known}",)
        try:
            argument = _argument(name, spec, args)
            if name == "status":
                return "/vmb/status", self.target.status_values()
            return "/vmb/ok", (name, self.target.command(name, argument))
        except VmbError as exc:
            return "/vmb/error", (f"{address}: {exc}",)

    def handle_datagram(self, datagram: bytes) -> list[OscMessage]:
        try:
            messages = decode(datagram)
        except VmbError as exc:
            return [("/vmb/error", (str(exc),))]
        return [self.handle(address, args) for address, args in messages]


def _argument(name: str, spec: CommandSpec, args: Sequence[OscArg]) -> int | str | None:
    if spec.argument is None:
        if args:
            raise VmbError(f"takes no arguments, got {len(args)}")
        return None
    if len(args) != 1:
        raise VmbError(f"takes one {spec.argument.__name__} argument, got {len(args)}")
    value = args[0]
    if spec.argument is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str) or not isinstance(value, spec.argument):
        raise VmbError(f"takes one {spec.argument.__name__} argument, got {value!r}")
    return value


class ControlServer:
    """UDP transport for a :class:`ControlDispatcher`; replies go back to each sender."""

    def __init__(self, dispatcher: ControlDispatcher, port: int, host: str = "127.0.0.1") -> None:
        self.dispatcher = dispatcher
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise DeviceError(f"cannot listen for OSC control on {host}:{port} ({exc.strerror}): "
                              "choose another --control port") from exc
        self._socket.settimeout(0.2)
        self.address: tuple[str, int] = self._socket.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="osc-control", daemon=True)
        self._thread.start()
        log.info("OSC control listening on %s:%d", *self.address)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                datagram, sender = self._socket.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            for address, args in self.dispatcher.handle_datagram(datagram):
                if address == "/vmb/error":
                    log.warning("OSC control from %s:%d: %s", sender[0], sender[1], args[0])
                try:
                    self._socket.sendto(encode(address, args), sender)
                except OSError as exc:
                    log.debug("cannot answer %s: %s", sender, exc)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()
