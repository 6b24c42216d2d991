"""``python -m bench ivr [--quick]``, ``python -m bench routing``, ``python -m bench bridged``
or ``python -m bench history``
(or ``./dev bench ...``).

Runs a benchmark and prints its figures with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import psutil

from bench import bridged, history, ivr, routing


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    sub = parser.add_subparsers(dest="which", required=True)
    run = sub.add_parser("ivr", help="concurrent IVR calls and calls/s through the SIP front")
    run.add_argument("--concurrent", type=int, nargs="+", default=[100, 200, 300])
    run.add_argument("--hold", type=int, default=30, help="seconds each concurrent call holds")
    run.add_argument("--rates", type=float, nargs="+", default=[20, 40, 60, 80])
    run.add_argument("--rate-seconds", type=int, default=30)
    run.add_argument("--quick", action="store_true", help="small smoke run (10 calls, 5 calls/s)")
    rt = sub.add_parser("routing", help="match_call / match_agent decision latency in Redis")
    rt.add_argument("--agents", type=int, default=1000)
    rt.add_argument("--queues", type=int, default=100)
    rt.add_argument("--calls", type=int, default=10_000)
    rt.add_argument("--decisions", type=int, default=3000, help="timed decisions per phase")
    br = sub.add_parser("bridged", help="caller-agent conversations held at once")
    br.add_argument("--levels", type=int, nargs="+", default=[50, 100, 150, 200])
    br.add_argument("--hold", type=int, default=30, help="seconds each caller holds")
    br.add_argument("--rate", type=float, default=10, help="new callers per second")
    br.add_argument("--answer-after", type=float, default=0.5, help="agents' ringing, seconds")
    br.add_argument("--rtp", choices=("silence", "echo", "none"), default="silence")
    br.add_argument("--keep", type=Path, help="keep each level's logs in KEEP/<level>")
    hi = sub.add_parser("history", help="history writer events/s into SQLite and PostgreSQL")
    hi.add_argument("--calls", type=int, default=2000)
    hi.add_argument("--batch", type=int, default=history.BATCH, help="events per transaction")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{routing.cpu_model()}, Python {platform.python_version()}"
    )
    if args.which == "routing":
        for line in routing.run(args.agents, args.queues, args.calls, args.decisions):
            print(line, flush=True)
        return
    if args.which == "history":
        for line in history.run(args.calls, args.batch):
            print(line, flush=True)
        return
    if args.which == "bridged":
        for line in bridged.bridged(
            args.levels, args.hold, args.rate, args.answer_after, args.rtp, args.keep
        ):
            print(line, flush=True)
        return
    if args.quick:
        args.concurrent, args.hold, args.rates, args.rate_seconds = [10], 5, [5], 5
    for line in ivr.concurrency(args.concurrent, args.hold, ramp_rate=20):
        print(line, flush=True)
    for line in ivr.rate(args.rates, args.rate_seconds):
        print(line, flush=True)


if __name__ == "__main__":
    main()
