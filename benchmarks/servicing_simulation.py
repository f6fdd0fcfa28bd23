#!/usr/bin/env python
"""The seeded servicing simulation at length: thousands of random sequences through the services.

    .venv/bin/python benchmarks/servicing_simulation.py --sequences 2000 --steps 20 --seed 7

Each sequence is one driver's account driven by random steps (booking, posting a week or a past
week again, payments, the late-fee job, waivers, payment and posting reversals through
maker-checker) with crashes before commit and redeliveries injected, checked after every step
against the in-memory model of loans/tests/simulation.py (the test suite runs the same engine,
bounded, with a fixed seed). A failure prints the seed and the steps that led to it; the run
stops there. On a fresh `bench_*` database (BENCH_DATABASE_URL), migrated.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import recreate_database, setup_django  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_simulation"),
    )
    parser.add_argument("--sequences", type=int, default=2000, help="random sequences (one driver each)")
    parser.add_argument("--steps", type=int, default=20, help="steps per sequence")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crash-rate", type=float, default=0.1, help="share of calls crashed before commit first")
    parser.add_argument("--redeliver-rate", type=float, default=0.25, help="share of calls delivered twice")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    recreate_database(args.database_url)
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # a booking without a customer warns: thousands of lines
    setup_django(args.database_url)
    from django.core.management import call_command
    from tqdm import tqdm

    from loans.tests.simulation import Simulation

    call_command("setup_roles", verbosity=0)
    simulation = Simulation(seed=args.seed, crash_rate=args.crash_rate, redeliver_rate=args.redeliver_rate)
    started = time.perf_counter()
    with tqdm(total=args.sequences, unit="seq", file=sys.stderr) as bar:
        stats = simulation.run(sequences=args.sequences, steps=args.steps, on_sequence=lambda _: bar.update(1))
    seconds = time.perf_counter() - started
    print(
        f"seed {args.seed}: {stats['sequences']} sequences, {stats['steps']} steps checked in {seconds:.1f} s "
        f"({stats['steps'] / seconds:.1f} steps/s), every check held"
    )
    for name, count in sorted(stats.items()):
        print(f"  {name:24} {count:>8}")


if __name__ == "__main__":
    main()
