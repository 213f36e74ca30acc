"""A separate MIDI receiver for tests: a mido JACK input port that prints every message as hex, one a line.

Usage: python tests/peers/mido_receiver.py CLIENT_NAME PORT_NAME. Prints ``ready`` once the port exists
and runs until stdin closes.
"""

from __future__ import annotations

import sys
import threading

import mido


def main() -> int:
    client, port_name = sys.argv[1], sys.argv[2]
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)

    def show(message: mido.Message) -> None:
        print(message.hex(), flush=True)

    port = backend.open_input(port_name, virtual=True, client_name=client, callback=show)
    print("ready", flush=True)
    done = threading.Event()

    def wait_for_end_of_input() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_for_end_of_input, daemon=True).start()
    done.wait()
    port.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
