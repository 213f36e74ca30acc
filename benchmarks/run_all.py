"""``make bench``: run every ``benchmarks/bench_*.py`` and write its section of docs/benchmarks.md."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from benchmarks.report import write_section


def main(selected: list[str]) -> int:
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    for name in modules:
        if selected and name not in selected:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}", flush=True)
        lines: list[str] = module.main()
        write_section(module.TITLE, lines)
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
