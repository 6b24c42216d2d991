"""``python -m bench ivr [--quick]`` (or ``./dev bench ivr``): run and print the IVR benchmark."""

from __future__ import annotations

import argparse
import os
import platform

import psutil

from bench import ivr


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    sub = parser.add_subparsers(dest="which", required=True)
    run = sub.add_parser("ivr", help="concurrent IVR calls and calls/s through the SIP front")
    run.add_argument("--concurrent", type=int, nargs="+", default=[100, 200, 300])
    run.add_argument("--hold", type=int, default=30, help="seconds each concurrent call holds")
    run.add_argument("--rates", type=float, nargs="+", default=[20, 40, 60, 80])
    run.add_argument("--rate-seconds", type=int, default=30)
    run.add_argument("--quick", action="store_true", help="small smoke run (10 calls, 5 calls/s)")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    if args.quick:
        args.concurrent, args.hold, args.rates, args.rate_seconds = [10], 5, [5], 5
    for line in ivr.concurrency(args.concurrent, args.hold, ramp_rate=20):
        print(line, flush=True)
    for line in ivr.rate(args.rates, args.rate_seconds):
        print(line, flush=True)


if __name__ == "__main__":
    main()
