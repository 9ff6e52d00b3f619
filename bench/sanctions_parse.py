"""Benchmark: stream-parse the OFAC SDN advanced XML snapshot and report time, size and memory.

Run from the repository root::

    .venv/bin/python -m bench.sanctions_parse [PATH]   # PATH defaults to the shared snapshot

Two passes over the file, because tracing allocations slows Python down about fourfold:

1. an untraced pass gives ``seconds`` (wall time of the full parse, bz2 decompression included)
   and ``addresses`` (distinct ``(asset, address)`` pairs found);
2. a pass under ``tracemalloc`` gives ``peak_mb``, the peak of Python-heap memory during the
   parse (the figure the parser's "memory stays flat" promise is about).

Progress goes to stderr; the LAST line on stdout is one JSON object
``{"seconds": ..., "addresses": ..., "peak_mb": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(
    os.environ.get(
        "NEXORA_SANCTIONS_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "sanctions"
    ),
    "sdn_advanced.xml.bz2",
)


def _parser() -> Callable[[Path], Iterable[Any]]:
    # Importable both as ``python -m bench.sanctions_parse`` and as ``python bench/...py``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from aml.sanctions.parsers import iter_ofac_advanced_xml

    return iter_ofac_advanced_xml


def timed_parse(path: Path) -> tuple[float, int]:
    parse = _parser()
    started = time.perf_counter()
    addresses = {(entry.asset, entry.address) for entry in parse(path)}
    return time.perf_counter() - started, len(addresses)


def traced_peak_mb(path: Path) -> float:
    parse = _parser()
    tracemalloc.start()
    try:
        for _ in parse(path):
            pass
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    path = args.parse_args(argv).path
    print(f"parsing {path} (untraced) ...", file=sys.stderr)
    seconds, addresses = timed_parse(path)
    print(f"{seconds:.2f} s, {addresses} addresses; tracing memory ...", file=sys.stderr)
    peak_mb = traced_peak_mb(path)
    result = {"seconds": round(seconds, 3), "addresses": addresses, "peak_mb": round(peak_mb, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
