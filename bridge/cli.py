"""The ``vmb`` command line: argument parsing only; every command calls into the library.

Each subcommand lives in ``bridge/commands/<name>.py`` and defines ``NAME``, ``HELP``,
``EXAMPLE``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from bridge import __version__
from bridge.commands import COMMAND_MODULES
from bridge.errors import VmbError

log = logging.getLogger("bridge")


def _load_commands(argv: Sequence[str]) -> list[ModuleType]:
    """The named command's module only (each imports heavy libraries); all of them for help or a typo."""
    chosen = [word for word in argv if not word.startswith("-")][:1]
    names = chosen if chosen and chosen[0] in COMMAND_MODULES else list(COMMAND_MODULES)
    return [importlib.import_module(f"bridge.commands.{name}") for name in names]


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmb",
        description="Video MIDI Bridge: performance video or a live camera to MIDI, OSC and audio stems.",
    )
    parser.add_argument("--version", action="version", version=f"vmb {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _load_commands(argv):
        sub = subparsers.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.HELP,
            epilog=f"example:\n  {module.EXAMPLE}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    _configure_logging(args.verbose, args.quiet)
    try:
        code: int = args.run(args)
    except VmbError as exc:
        print(f"vmb {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vmb {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``vmb eval ... | head``): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())
