"""A private JACK server (dummy driver) for one test, and separate receiving processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PEERS = Path(__file__).parent


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make sysdeps installs it)")


class JackServer:
    """``jackd -n NAME -d dummy``; JACK_DEFAULT_SERVER is set for this process and its children.

    One name per test process: JACK keeps a registry of at most 8 servers in shared memory, and a
    server killed with SIGKILL leaves its entry until a server of the same name starts again.
    """

    def __init__(self) -> None:
        self.name = f"vmbt{os.getpid()}"
        self.process: subprocess.Popen[bytes] | None = None
        self._previous = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name

    def start(self) -> None:
        self.process = subprocess.Popen(["jackd", "-n", self.name, "-d", "dummy", "-r", "48000", "-p", "256"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if subprocess.run(["jack_lsp"], capture_output=True, timeout=30).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("jackd did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:  # SIGTERM: the server clears its registry entry and shared memory
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        if self._previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = self._previous

    def ports(self, *flags: str) -> str:
        return subprocess.run(["jack_lsp", *flags], capture_output=True, text=True, timeout=30).stdout

    def wait_for_port(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while name not in self.ports():
            if time.monotonic() > deadline:
                raise RuntimeError(f"JACK port {name} did not appear")
            time.sleep(0.05)

    def connected(self, port: str) -> bool:
        """Whether ``port`` has at least one connection (``jack_lsp -c`` lists them indented below it)."""
        listing = self.ports("-c").splitlines()
        for i, line in enumerate(listing):
            if line.strip() == port:
                return i + 1 < len(listing) and listing[i + 1].startswith((" ", "\t"))
        return False

    def wait_connected(self, port: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.connected(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"JACK port {port} was not connected")
            time.sleep(0.05)


@pytest.fixture
def jack() -> Iterator[JackServer]:
    need("jackd", "jack_lsp", "jack_midi_dump")
    server = JackServer()
    server.start()
    yield server
    server.stop()


class Receiver:
    """A separate process that prints what reaches its JACK MIDI input, one message a line."""

    def __init__(self, command: list[str], port: str, server: JackServer) -> None:
        self.port = port
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        server.wait_for_port(port)

    def finish(self, settle: float = 0.3) -> list[str]:
        time.sleep(settle)
        self.process.terminate()
        out, _ = self.process.communicate(input="", timeout=10)
        return [line.strip() for line in out.splitlines() if line.strip() and line.strip() != "ready"]


def midi_dump(server: JackServer) -> Receiver:
    """``jack_midi_dump``: its lines look like ``0: 90 3c 64 note on ...``; :func:`dump_hex` keeps the bytes."""
    return Receiver(["stdbuf", "-oL", "jack_midi_dump"], "midi-monitor:input", server)


def mido_input(server: JackServer, client: str = "vmbrecv") -> Receiver:
    return Receiver([sys.executable, str(PEERS / "mido_receiver.py"), client, "in"], f"{client}:in", server)


def dump_hex(lines: list[str]) -> list[str]:
    """The message bytes of jack_midi_dump lines, as mido's hex (``90 3C 64``)."""
    hexes = []
    for line in lines:
        if ":" not in line:
            continue
        tokens = []
        for field in line.split(":", 1)[1].split():
            if len(field) != 2 or not all(c in "0123456789abcdefABCDEF" for c in field):
                break
            tokens.append(field.upper())
        hexes.append(" ".join(tokens))
    return hexes
