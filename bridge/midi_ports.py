"""Live MIDI ports: one small class per backend behind the ``MidiPort`` protocol, chosen by name.

Backends (imported lazily, as mido does): ``jack`` (a JACK client through libjack; notices when the
server goes away and reconnects when it returns), ``alsa`` and ``coremidi`` (a virtual port through
python-rtmidi), ``winmm`` (Windows cannot create virtual ports: an existing loopMIDI port is opened by
name). :class:`MidiSink` sits in front of a port and tracks sounding notes, so that stop, a signal or
an error silences everything, and no note off is sent for a note on the port never carried.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bridge.errors import DeviceError, SystemDependencyError
from bridge.types import NoteEdge, NoteOn

log = logging.getLogger(__name__)

BACKENDS = ("jack", "alsa", "coremidi", "winmm")
RECONNECT_INTERVAL_S = 0.5
JOIN_QUIET_S = 0.25  # a receiver joins once no note has sounded (or ended) on the port for this long
JOIN_WAIT_S = 5.0  # ... or after this long, if the music never pauses: then what sounds is ended first
JACK_MIDI_TYPE = b"8 bit raw midi"
JACK_PORT_IS_INPUT, JACK_PORT_IS_OUTPUT = 0x1, 0x2
DRAIN_CYCLES = 3  # JACK cycles to wait at close: what was sent before has then left the port
DRAIN_LIMIT_S = 1.0
INPUT_QUEUE = 65536  # messages an input holds until read: ten minutes of MIDI time code
ALL_NOTES_OFF_CC = 123
SUSTAIN_CC = 64


class MidiPort(Protocol):
    """A MIDI output. ``generation`` grows at every (re)connection; ``send`` returns False when not connected.

    ``poll(quiet)`` reconnects and makes wanted connections; ``quiet`` says that no note sounds on the port
    now, so that a receiver joining late never hears a note off whose note on it missed. ``join_due``: a
    receiver that exists has waited JOIN_WAIT_S for such a moment, and the next ``poll`` may connect it;
    ``drain`` waits until what was sent has left the port.
    """

    name: str

    @property
    def connected(self) -> bool: ...

    @property
    def generation(self) -> int: ...

    @property
    def join_due(self) -> bool: ...

    def send(self, message: bytes) -> bool: ...

    def poll(self, quiet: bool = True) -> None: ...

    def drain(self) -> None: ...

    def close(self) -> None: ...


def default_backend() -> str:
    """coremidi on macOS, winmm on Windows, alsa on Linux with an ALSA sequencer, else jack."""
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform == "win32":
        return "winmm"
    return "alsa" if os.path.exists("/dev/snd/seq") else "jack"


def open_port(backend: str, name: str, connect: Sequence[str] = ()) -> MidiPort:
    """Open the output port ``name`` on ``backend`` (one of BACKENDS)."""
    if backend == "jack":
        return JackMidiOut(name, connect)
    if backend in ("alsa", "coremidi"):
        return RtMidiVirtualOut(name, backend)
    if backend == "winmm":
        return RtMidiNamedOut(name)
    raise DeviceError(f"unknown MIDI backend {backend!r}: choose one of {', '.join(BACKENDS)}")


# --- JACK -----------------------------------------------------------------------------------------------
# MIDI travels through python-rtmidi's JACK client, whose process callback is C++ (no Python, no GIL in
# JACK's realtime thread). A second, port-less client through libjack (ctypes) hears the server go away
# (``jack_on_shutdown``, called outside the realtime path), makes connections and probes for its return.

_NO_START_SERVER = 0x01
_ShutdownCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_MessageCallback = ctypes.CFUNCTYPE(None, ctypes.c_char_p)


def _jack_message(text: bytes | None) -> None:
    """libjack's own chatter (``Cannot connect to server socket`` and the like) goes to our log, not stderr."""
    log.debug("libjack: %s", (text or b"").decode(errors="replace"))


_jack_message_callback = _MessageCallback(_jack_message)

_libjack: Any = None
_open_ports: weakref.WeakSet[_JackPort] = weakref.WeakSet()


@atexit.register
def _close_open_ports() -> None:
    """Leave the JACK server before the interpreter shuts down."""
    for port in list(_open_ports):
        port.close()


def libjack() -> Any:
    """The JACK client library with the few signatures we use (loaded once)."""
    global _libjack
    if _libjack is None:
        path = ctypes.util.find_library("jack") or "libjack.so.0"
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise SystemDependencyError("the JACK library is missing: install jackd2 (Debian) or JACK from "
                                        "jackaudio.org, or choose --midi-backend alsa/coremidi") from exc
        p, i, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
        for fname, restype, argtypes in (
            ("jack_client_open", p, [s, i, ctypes.POINTER(i)]), ("jack_client_close", i, [p]),
            ("jack_activate", i, [p]), ("jack_on_shutdown", None, [p, _ShutdownCallback, p]),
            ("jack_connect", i, [p, s, s]), ("jack_port_by_name", p, [p, s]),
            ("jack_port_type", s, [p]), ("jack_port_flags", i, [p]),
            ("jack_set_error_function", None, [_MessageCallback]),
            ("jack_set_info_function", None, [_MessageCallback]),
            ("jack_last_frame_time", ctypes.c_uint32, [p]), ("jack_get_buffer_size", ctypes.c_uint32, [p]),
        ):
            func = getattr(lib, fname)
            func.restype, func.argtypes = restype, argtypes
        lib.jack_set_error_function(_jack_message_callback)
        lib.jack_set_info_function(_jack_message_callback)
        _libjack = lib
    return _libjack


def _abandon(midi: Any) -> None:
    """Keep a port of a dead server alive for good: libjack reuses client numbers, so closing the old client
    after the server restarted would close the new one that took its number."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(midi))


def _rtmidi() -> Any:
    import rtmidi

    return rtmidi


class _JackPort:
    """One JACK MIDI port that survives server restarts: reopened by :meth:`poll` when the server is back."""

    is_output = True

    def __init__(self, name: str, connect: Sequence[str] = ()) -> None:
        self.name = name
        self.connect_to = tuple(connect)
        self._lib = libjack()
        self._monitor: int | None = None
        self._midi: Any = None
        self._alive = False
        self._generation = 0
        self._last_try = 0.0
        self._unconnected: set[str] = set()
        self._refused: set[str] = set()  # receivers that exist but JACK would not connect (an audio port, say)
        self._pending_since = 0.0  # when a wanted connection was first found missing
        self._shutdown_cb = _ShutdownCallback(self._on_shutdown)
        if not self._open():
            raise DeviceError("no JACK server is running: start one (e.g. `jackd -d alsa` or QjackCtl), "
                              "or choose another --midi-backend")
        _open_ports.add(self)

    @property
    def connected(self) -> bool:
        return self._alive

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def full_name(self) -> str:
        return f"{self.name}:{self.name}"

    @property
    def join_due(self) -> bool:
        now = time.monotonic()
        if not (self._alive and self._unconnected and now - self._pending_since >= JOIN_WAIT_S
                and now - self._last_try >= RECONNECT_INTERVAL_S):
            return False
        return any(self._joinable(other) for other in self._unconnected - self._refused)

    def _port(self, name: str) -> Any:
        """JACK's handle of the port ``name`` on the server, or None."""
        return self._lib.jack_port_by_name(self._monitor, name.encode())

    def _joinable(self, name: str) -> bool:
        """Whether the port ``name`` exists and is a MIDI port we can connect to (an input, for an output)."""
        port = self._port(name)
        if not port:
            return False
        wanted = JACK_PORT_IS_INPUT if self.is_output else JACK_PORT_IS_OUTPUT
        return bool(self._lib.jack_port_type(port) == JACK_MIDI_TYPE and self._lib.jack_port_flags(port) & wanted)

    def _open(self) -> bool:
        status = ctypes.c_int(0)
        monitor = self._lib.jack_client_open(f"{self.name}-watch".encode()[:60], _NO_START_SERVER,
                                             ctypes.byref(status))
        if not monitor:
            return False
        self._lib.jack_on_shutdown(monitor, self._shutdown_cb, None)
        self._lib.jack_activate(monitor)
        stale, self._midi = self._midi, self._open_midi()
        if stale is not None:
            _abandon(stale)
        self._monitor = monitor
        self._generation += 1
        self._alive = True
        self._unconnected = set(self.connect_to)
        self._refused = set()
        self._connect_pending()  # a new port carries nothing yet: any receiver may join at once
        self._pending_since = time.monotonic()
        return True

    def _open_midi(self) -> Any:
        raise NotImplementedError

    def _connect_pending(self) -> None:
        own = self.full_name.encode()
        for other in sorted(self._unconnected):
            pair = (own, other.encode()) if self.is_output else (other.encode(), own)
            if self._lib.jack_connect(self._monitor, *pair) in (0, 17):  # 17: EEXIST, already connected
                self._unconnected.discard(other)

    def _on_shutdown(self, _arg: int | None) -> None:
        self._alive = False
        log.warning("JACK server went away: MIDI port %s is down; reconnecting when it returns", self.name)

    def poll(self, quiet: bool = True) -> None:
        """Reconnect after a server restart and retry wanted connections (at most twice a second).

        A receiver that appears later is connected while the port is ``quiet``, so that it does not hear the
        note off of a note that started before it joined (see :attr:`join_due`).
        """
        now = time.monotonic()
        if now - self._last_try < RECONNECT_INTERVAL_S:
            return
        self._last_try = now
        if self._alive:
            if self._unconnected and quiet:
                self._connect_pending()
                for other in sorted(self._unconnected - self._refused):
                    if self._port(other):  # there, yet not connected
                        log.warning("JACK would not connect %s to %s: give a MIDI %s port", self.full_name, other,
                                    "input" if self.is_output else "output")
                        self._refused.add(other)  # no more notes ended early for it (join_due)
            if not self._unconnected:
                self._pending_since = now
            return
        self._monitor = None  # a client of a dead server is not closed: libjack cleans it up
        if self._open():
            log.warning("JACK server is back: MIDI port %s reconnected", self.full_name)

    def drain(self) -> None:
        return None

    def close(self) -> None:
        if self._alive:
            if self._midi is not None:
                self._midi.close_port()
            if self._monitor is not None:
                self._lib.jack_client_close(self._monitor)
        self._alive = False
        self._midi = None
        self._monitor = None


class JackMidiOut(_JackPort):
    """A JACK MIDI output port (client and port both named ``name``)."""

    def _open_midi(self) -> Any:
        rtmidi = _rtmidi()
        out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=self.name)
        out.open_virtual_port(self.name)
        return out

    def send(self, message: bytes) -> bool:
        if not self._alive or self._midi is None:
            return False
        self._midi.send_message(message)
        return True

    def close(self) -> None:
        self.drain()
        super().close()

    def drain(self) -> None:
        """Wait until the server has begun DRAIN_CYCLES cycles: what was sent before has then left the port
        (rtmidi's JACK client moves it from its queue to the port in its next cycle). A fixed sleep is not
        enough on a loaded machine, where a cycle can come late."""
        if not self._alive or self._monitor is None:
            return
        period = max(1, int(self._lib.jack_get_buffer_size(self._monitor)))
        start = int(self._lib.jack_last_frame_time(self._monitor))
        deadline = time.monotonic() + DRAIN_LIMIT_S
        while self._alive and time.monotonic() < deadline:
            if (int(self._lib.jack_last_frame_time(self._monitor)) - start) % 2**32 >= DRAIN_CYCLES * period:
                return
            time.sleep(0.002)
        if self._alive:
            log.warning("the JACK server ran no cycle for %.1f s: the last messages may not have left", DRAIN_LIMIT_S)


class ArrivalClock:
    """Arrival times of queued messages from rtmidi's gaps between them (taken in JACK's process thread).

    The gaps add up to a clock of the port's own; its offset from ``time.monotonic`` is not known, but each
    message arrived before the moment it was read, so the smallest (read time - port clock) seen so far is
    the offset, to within how late the quickest read came.
    """

    def __init__(self) -> None:
        self._clock = 0.0
        self._offset: float | None = None

    def stamp(self, queued: list[tuple[bytes, float]], read_at: float) -> list[tuple[float, bytes]]:
        on_port_clock = []
        for message, gap in queued:
            self._clock += gap
            on_port_clock.append((self._clock, message))
        if on_port_clock:
            latest = read_at - on_port_clock[-1][0]
            self._offset = latest if self._offset is None else min(self._offset, latest)
        offset = self._offset or 0.0
        return [(clock + offset, message) for clock, message in on_port_clock]


class JackMidiIn(_JackPort):
    """A JACK MIDI input port; :meth:`receive` returns (monotonic arrival time, message bytes) in order.

    No Python callback runs in JACK's process thread (it would wait there for the GIL, and a server in
    synchronous mode stalls the whole graph, audio included, while it waits): rtmidi queues what arrives
    with the time since the previous message, and :meth:`receive` turns those into arrival times.
    """

    is_output = False
    _arrivals: ArrivalClock  # a new one with each rtmidi client: the gaps start again

    def _open_midi(self) -> Any:
        rtmidi = _rtmidi()
        midi_in = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=self.name, queue_size_limit=INPUT_QUEUE)
        midi_in.ignore_types(sysex=False, timing=False, active_sense=True)  # MTC is SysEx and timing
        midi_in.open_virtual_port(self.name)
        self._arrivals = ArrivalClock()
        return midi_in

    def receive(self) -> list[tuple[float, bytes]]:
        queued = []
        while self._midi is not None and (event := self._midi.get_message()) is not None:
            queued.append((bytes(event[0]), float(event[1])))
        return self._arrivals.stamp(queued, time.monotonic())

    def send(self, message: bytes) -> bool:
        raise DeviceError("a MIDI input port cannot send")


# --- python-rtmidi ports --------------------------------------------------------------------------------

_RTMIDI_APIS = {"alsa": "LINUX_ALSA", "coremidi": "MACOSX_CORE", "winmm": "WINDOWS_MM"}


def _rtmidi_backend(backend: str) -> Any:
    import mido

    return mido.Backend(f"mido.backends.rtmidi/{_RTMIDI_APIS[backend]}", load=True)


class RtMidiVirtualOut:
    """A virtual output port through python-rtmidi (ALSA sequencer on Linux, CoreMIDI on macOS)."""

    def __init__(self, name: str, backend: str) -> None:
        self.name = name
        try:
            self._port = _rtmidi_backend(backend).open_output(name, virtual=True, client_name="vmb")
        except Exception as exc:  # rtmidi raises its own SystemError subclasses
            hint = "is /dev/snd/seq present? try --midi-backend jack" if backend == "alsa" else "check Audio MIDI Setup"
            raise DeviceError(f"cannot create the virtual {backend} MIDI port {name!r} ({exc}): {hint}") from exc

    connected = True
    generation = 1
    join_due = False  # nothing to join: other programs connect to the virtual port themselves

    def send(self, message: bytes) -> bool:
        import mido

        self._port.send(mido.Message.from_bytes(message))
        return True

    def poll(self, quiet: bool = True) -> None:
        return None

    def drain(self) -> None:
        return None

    def close(self) -> None:
        self._port.close()


class RtMidiNamedOut(RtMidiVirtualOut):
    """Windows: open an existing port (loopMIDI) by name, since WinMM cannot create virtual ports."""

    def __init__(self, name: str) -> None:
        self.name = name
        backend = _rtmidi_backend("winmm")
        names = backend.get_output_names()
        match = [n for n in names if n == name or n.rsplit(" ", 1)[0] == name]
        if not match:
            raise DeviceError(f"Windows cannot create virtual MIDI ports: create a port named {name!r} in loopMIDI "
                              f"(tobias-erichsen.de) and start again; existing ports: {', '.join(names) or 'none'}")
        self._port = backend.open_output(match[0])


# --- note tracking --------------------------------------------------------------------------------------


def note_on_bytes(pitch: int, velocity: int, channel: int) -> bytes:
    return bytes((0x90 | channel, pitch, velocity))


def note_off_bytes(pitch: int, channel: int) -> bytes:
    return bytes((0x80 | channel, pitch, 0))


def cc_bytes(control: int, value: int, channel: int) -> bytes:
    return bytes((0xB0 | channel, control, value))


class MidiSink:
    """Note edges and controls to a port, remembering what sounds so that nothing is left hanging.

    A note on that the port did not carry (port down) is not remembered, so its note off is not sent;
    notes that sounded on a port that went away are forgotten when it returns (their receiver is gone).
    """

    def __init__(self, port: MidiPort, on_send: Callable[[bytes], None] | None = None) -> None:
        self.port = port
        self.on_send = on_send
        self._sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> port generation
        self._channels_used: set[int] = set()
        self._lock = threading.Lock()
        self.sent = 0
        self.dropped = 0
        self._quiet = True  # nothing sent since the last panic: a second panic sends nothing
        self._last_note_off = 0.0  # monotonic time of the last note off sent

    @property
    def sounding(self) -> list[tuple[int, int]]:
        with self._lock:
            return sorted(self._sounding)

    def _send(self, message: bytes) -> bool:
        ok = self.port.send(message)
        self._quiet = False
        if message[0] & 0xF0 == 0x80:
            self._last_note_off = time.monotonic()
        if ok:
            self.sent += 1
            if self.on_send is not None:
                self.on_send(message)
        else:
            self.dropped += 1
        return ok

    def edge(self, edge: NoteEdge) -> None:
        key = (edge.channel, edge.pitch)
        with self._lock:
            self._forget_stale()
            if isinstance(edge, NoteOn):
                if key in self._sounding:  # a re-strike the source did not end: end it first
                    self._send(note_off_bytes(edge.pitch, edge.channel))
                    del self._sounding[key]
                if self._send(note_on_bytes(edge.pitch, edge.velocity, edge.channel)):
                    self._sounding[key] = self.port.generation
                    self._channels_used.add(edge.channel)
            elif self._sounding.pop(key, None) is not None:
                self._send(note_off_bytes(edge.pitch, edge.channel))

    def control(self, t: float, control: int, value: int, channel: int) -> None:
        """A controller change now (``t`` is the stream time, kept for sinks that record it)."""
        with self._lock:
            if self._send(cc_bytes(control, value, channel)):
                self._channels_used.add(channel)

    def pitch_bend(self, t: float, value: int, channel: int) -> None:
        """Pitch bend -8192..8191 (0 = centre) now."""
        bent = value + 8192
        with self._lock:
            self._send(bytes((0xE0 | channel, bent & 0x7F, bent >> 7)))

    def raw(self, message: bytes) -> None:
        """Any other message (pitch bend, MTC, ...), passed through as is."""
        with self._lock:
            self._send(message)

    def _forget_stale(self) -> None:
        generation = self.port.generation
        stale = [key for key, gen in self._sounding.items() if gen != generation]
        for key in stale:
            del self._sounding[key]
        if stale:
            log.info("forgot %d notes that sounded on the port before it went away", len(stale))

    def panic(self) -> int:
        """Note off for every sounding note, then sustain off and all-notes-off on every channel used."""
        with self._lock:
            self._forget_stale()
            silenced = len(self._sounding)
            if self._quiet:
                return 0
            for channel, pitch in sorted(self._sounding):
                self._send(note_off_bytes(pitch, channel))
            self._sounding.clear()
            for channel in sorted(self._channels_used):
                self._send(cc_bytes(SUSTAIN_CC, 0, channel))
                self._send(cc_bytes(ALL_NOTES_OFF_CC, 0, channel))
            self._quiet = True
        return silenced

    def poll(self) -> None:
        """Let the port reconnect; it connects a late receiver only when no note sounds and the last note off
        has had time to leave (a receiver joining then hears whole notes only). Where the music has not paused
        for JOIN_WAIT_S, what sounds ends first: the receivers already there hear those notes a little short."""
        with self._lock:
            self._forget_stale()
            quiet = not self._sounding and time.monotonic() - self._last_note_off >= JOIN_QUIET_S
            if not quiet and self.port.join_due:
                log.info("ending %d sounding notes so that a receiver that waited %.0f s joins", len(self._sounding),
                         JOIN_WAIT_S)
                for channel, pitch in sorted(self._sounding):
                    self._send(note_off_bytes(pitch, channel))
                self._sounding.clear()
                self.port.drain()
                quiet = True
        self.port.poll(quiet)

    def close(self) -> None:
        self.panic()
        self.port.close()
