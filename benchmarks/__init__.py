"""Benchmarks: each ``bench_*.py`` has ``TITLE`` and ``main() -> list[str]`` (markdown lines for the docs)."""
