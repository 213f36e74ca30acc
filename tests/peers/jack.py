"""A private JACK server (dummy driver) for one test, and separate receiving processes.

Everything here waits on conditions (a port exists, a receiver has printed N messages, a line was
logged) with generous limits instead of sleeping for a guessed time: a loaded machine is slow, not wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

PEERS = Path(__file__).parent
WAIT_S = 60.0  # the limit for anything a test waits for; only reached when something is really wrong


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make sysdeps installs it)")


class LineReader:
    """The lines a child process writes to one pipe, collected by a thread as they come."""

    def __init__(self, stream: IO[str] | None, keep: Callable[[str], str | None] = lambda line: line) -> None:
        self.lines: list[str] = []
        self._keep = keep
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, ""):
            kept = self._keep(raw.rstrip("\n"))
            if kept is not None:
                with self._changed:
                    self.lines.append(kept)
                    self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[str]], bool], what: str, timeout: float = WAIT_S) -> list[str]:
        """The lines once ``condition(lines)`` holds; AssertionError naming ``what`` and the lines after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout:.0f} s for {what}; got {self.lines}")
                self._changed.wait(min(left, 0.5))
            return list(self.lines)

    def wait_quiet(self, quiet_s: float, timeout: float = WAIT_S) -> list[str]:
        """The lines once none has come for ``quiet_s`` seconds (for streams whose end is not known)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            count, since = len(self.lines), time.monotonic()
            while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
                self._changed.wait(0.05)
                if len(self.lines) != count:
                    count, since = len(self.lines), time.monotonic()
            return list(self.lines)

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not go within ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class JackServer:
    """``jackd -S -n NAME -d dummy``; JACK_DEFAULT_SERVER is set for this process and its children.

    Synchronous mode (``-S``): each cycle waits for every client, so a receiver or sender that the OS runs
    late (a loaded CI machine) still gets every message once. In JACK2's default asynchronous mode a client
    that misses its cycle loses MIDI events or reads the previous cycle's again, which would fail the tests
    that compare what a receiver heard with what we sent, for reasons outside the code under test.

    One name per test process: JACK keeps a registry of at most 8 servers in shared memory, and a
    server killed with SIGKILL leaves its entry until a server of the same name starts again. The
    server's own output goes to a log file that failing tests show (:meth:`log_tail`); the receivers
    started on it are stopped with it, so a failed test leaves no process behind.
    """

    def __init__(self) -> None:
        self.name = f"vmbt{os.getpid()}"
        self.process: subprocess.Popen[bytes] | None = None
        self.receivers: list[Receiver] = []
        self._previous = os.environ.get("JACK_DEFAULT_SERVER")
        self._log = tempfile.NamedTemporaryFile(prefix="jackd-", suffix=".log", delete=False)  # noqa: SIM115
        os.environ["JACK_DEFAULT_SERVER"] = self.name

    def start(self) -> None:
        self.process = subprocess.Popen(["jackd", "-S", "-t", "2000", "-n", self.name, "-d", "dummy", "-r", "48000",
                                         "-p", "256"],
                                        stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT_S
        while subprocess.run(["jack_lsp"], capture_output=True, timeout=WAIT_S).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"jackd did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        for receiver in self.receivers:
            stop_process(receiver.process)
        self.receivers.clear()
        if self.process is not None:  # SIGTERM: the server clears its registry entry and shared memory
            stop_process(self.process)
            self.process = None
        if self._previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = self._previous
        self._log.close()
        os.unlink(self._log.name)

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])

    def ports(self, *flags: str) -> str:
        return subprocess.run(["jack_lsp", *flags], capture_output=True, text=True, timeout=WAIT_S).stdout

    def wait_for_port(self, name: str, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while name not in self.ports().splitlines():
            if time.monotonic() > deadline:
                raise RuntimeError(f"JACK port {name} did not appear:\n{self.log_tail()}")
            time.sleep(0.05)

    def connected(self, port: str) -> bool:
        """Whether ``port`` has at least one connection (``jack_lsp -c`` lists them indented below it).

        Only an unindented line names the port itself: an indented one is a connection of another port.
        """
        listing = self.ports("-c").splitlines()
        for i, line in enumerate(listing):
            if line == port:
                return i + 1 < len(listing) and listing[i + 1].startswith((" ", "\t"))
        return False

    def wait_connected(self, port: str, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.connected(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"JACK port {port} was not connected:\n{self.log_tail()}")
            time.sleep(0.05)


@pytest.fixture
def jack() -> Iterator[JackServer]:
    need("jackd", "jack_lsp", "jack_midi_dump")
    server = JackServer()
    server.start()
    yield server
    server.stop()


class Receiver:
    """A separate process that prints what reaches its JACK MIDI input, one message a line.

    Its messages (as hex, ``90 3C 64``) are read as they come: a test waits until the ones it expects
    (or at least N) have arrived, instead of sleeping and hoping the receiver kept up.
    """

    def __init__(self, command: list[str], port: str, server: JackServer,
                 to_hex: Callable[[str], str | None]) -> None:
        self.port = port
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        server.receivers.append(self)
        self.messages = LineReader(self.process.stdout, to_hex)
        server.wait_for_port(port)

    def wait_for(self, condition: Callable[[list[str]], bool], what: str, timeout: float = WAIT_S) -> list[str]:
        return self.messages.wait_for(condition, what, timeout)

    def wait_count(self, prefix: str, count: int, timeout: float = WAIT_S) -> list[str]:
        """The messages once ``count`` of them start with ``prefix`` (``"91"``: note ons on channel 2)."""
        return self.wait_for(lambda lines: sum(line.startswith(prefix) for line in lines) >= count,
                             f"{count} messages starting {prefix} on {self.port}", timeout)

    def finish(self, until: Callable[[list[str]], bool] | None = None, what: str = "the last message",
               quiet_s: float = 0.5) -> list[str]:
        """Every message received, once ``until`` holds (or, without it, once none came for ``quiet_s``); then the
        receiver is stopped."""
        try:
            if until is not None:
                return self.wait_for(until, what)
            return self.messages.wait_quiet(quiet_s)
        finally:
            if self.process.stdin is not None:
                self.process.stdin.close()  # the mido receiver leaves on end of input
            stop_process(self.process)
            self.messages.join()


def ends_with(last: str) -> Callable[[list[str]], bool]:
    """A ``finish`` condition: the last message so far is ``last`` (e.g. the final all-notes-off)."""
    return lambda lines: bool(lines) and lines[-1] == last


def at_least(count: int) -> Callable[[list[str]], bool]:
    return lambda lines: len(lines) >= count


def midi_dump(server: JackServer) -> Receiver:
    """``jack_midi_dump``: its lines look like ``0: 90 3c 64 note on ...``."""
    return Receiver(["stdbuf", "-oL", "jack_midi_dump"], "midi-monitor:input", server, dump_line_hex)


def mido_input(server: JackServer, client: str = "vmbrecv") -> Receiver:
    def upper(line: str) -> str | None:
        return line.strip().upper() if line.strip() and line.strip() != "ready" else None

    return Receiver([sys.executable, str(PEERS / "mido_receiver.py"), client, "in"], f"{client}:in", server, upper)


def dump_line_hex(line: str) -> str | None:
    """The message bytes of one jack_midi_dump line, as mido's hex (``90 3C 64``); None for other lines."""
    if ":" not in line:
        return None
    tokens = []
    for field in line.split(":", 1)[1].split():
        if len(field) != 2 or not all(c in "0123456789abcdefABCDEF" for c in field):
            break
        tokens.append(field.upper())
    return " ".join(tokens) or None


def dump_hex(lines: list[str]) -> list[str]:
    """The message bytes of jack_midi_dump lines (see :func:`dump_line_hex`)."""
    return [hexes for hexes in map(dump_line_hex, lines) if hexes is not None]
