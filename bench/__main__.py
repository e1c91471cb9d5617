"""`python -m bench` (what `make bench` runs)."""

from __future__ import annotations

import sys

from bench.config import BenchConfig
from bench.report import render
from bench.runner import run_benchmark


def main() -> int:
    config = BenchConfig.from_args()
    results = run_benchmark(config)
    print()
    print(render(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
