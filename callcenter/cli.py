"""The ``callcenter`` command: ``serve`` runs the service, ``flows check`` validates flow files,
``recordings purge`` removes old recordings.

Exit codes: 0 success, 1 the service could not start or a flow is invalid, 2 bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from callcenter import __version__
from callcenter.config import ConfigError, load_config

log = logging.getLogger("callcenter")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "flows" and args.flows_command == "check":
        return _check_flows(args.files)
    if args.command == "cdr" and args.cdr_command == "export":
        return _export_cdr(args)
    if args.command == "recordings" and args.recordings_command == "purge":
        return _purge_recordings(args)
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcenter", description=__doc__)
    parser.add_argument("--version", action="version", version=f"callcenter {__version__}")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the service (SIP front, media workers, API)")
    serve.add_argument("--config", type=Path, help="YAML configuration file")
    serve.add_argument("--sip-port", type=int, help="SIP port, UDP and TCP (default 5060)")
    serve.add_argument("--http-port", type=int, help="HTTP API port (default 8080)")
    serve.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
    serve.add_argument("--redis-url", help="Redis URL (default: start an embedded redis-server)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    flows = commands.add_parser("flows", help="IVR flow files")
    flow_commands = flows.add_subparsers(dest="flows_command")
    check = flow_commands.add_parser("check", help="validate flow files; print file:line: message")
    check.add_argument("files", nargs="+", type=Path)

    cdr = commands.add_parser("cdr", help="call detail records from the history database")
    cdr_commands = cdr.add_subparsers(dest="cdr_command")
    export = cdr_commands.add_parser(
        "export", help="export calls that arrived in [--from, --to] (works with the service off)"
    )
    export.add_argument("--from", dest="since", help="first day or time (ISO 8601, UTC)")
    export.add_argument("--to", dest="until", help="last day (included) or time (excluded)")
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    what = export.add_mutually_exclusive_group()
    what.add_argument("--legs", action="store_true", help="one row per leg instead of per call")
    what.add_argument("--attempts", action="store_true", help="one row per queue attempt")
    export.add_argument("--queue", help="only calls that waited in this queue")
    export.add_argument("--agent", help="only calls this agent answered")
    export.add_argument("--outcome", help="only calls with this outcome")
    export.add_argument("--config", type=Path, help="YAML configuration file (history.url)")
    export.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
    export.add_argument("--history-url", help="history database URL (overrides the config)")

    recordings = commands.add_parser("recordings", help="recorded conversations")
    recording_commands = recordings.add_subparsers(dest="recordings_command")
    purge = recording_commands.add_parser(
        "purge", help="remove recordings (WAV and sidecar) that ended longer ago than an age"
    )
    purge.add_argument("--older-than", required=True, help="an age: 90d, 12h or 30m")
    purge.add_argument("--dry-run", action="store_true", help="print what would go; remove nothing")
    purge.add_argument("--config", type=Path, help="YAML configuration file (recording.directory)")
    purge.add_argument("--directory", type=Path, help="the recordings directory (overrides config)")
    return parser


def _check_flows(files: list[Path]) -> int:
    from callcenter.domain.ivr.loader import check_files

    problems = check_files(files)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{len(files)} flow file(s) OK")
    return 1 if problems else 0


def _export_cdr(args: argparse.Namespace) -> int:
    from callcenter.history.database import HistoryDatabase
    from callcenter.history.export import export
    from callcenter.history.queries import CallFilter, HistoryQueries, parse_time

    try:
        config = load_config(
            args.config, overrides={"data_dir": args.data_dir, "history.url": args.history_url}
        )
        since = None if args.since is None else parse_time(args.since)
        until = None if args.until is None else parse_time(args.until, end_of_day=True)
    except (ConfigError, ValueError) as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 2
    which = CallFilter(
        since=since, until=until, queue=args.queue, agent=args.agent, outcome=args.outcome
    )
    kind = "legs" if args.legs else "attempts" if args.attempts else "calls"
    try:
        database = HistoryDatabase(config.history_url)
        database.create_schema()  # an empty export from a service never started
        rows = HistoryQueries(database).export_rows(which)
        if args.output is None:
            count = export(rows, sys.stdout, kind, args.format)
        else:
            with args.output.open("w", newline="", encoding="utf-8") as out:
                count = export(rows, out, kind, args.format)
    except Exception as exc:  # unreachable database, unwritable file: say which, exit 1
        print(f"callcenter: cdr export failed: {exc}", file=sys.stderr)
        return 1
    database.dispose()
    print(f"{count} {kind} exported", file=sys.stderr)
    return 0


def _purge_recordings(args: argparse.Namespace) -> int:
    from callcenter.domain.recording import parse_age
    from callcenter.recording.files import RecordingStore

    try:
        age = parse_age(args.older_than)
        directory = args.directory or load_config(args.config).recording.directory
    except ValueError as exc:
        print(f"callcenter: --older-than: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"callcenter: configuration error: {exc}", file=sys.stderr)
        return 2
    if not directory.is_dir():
        print(f"no recordings directory at {directory}: nothing to purge")
        return 0
    try:
        removed = RecordingStore(directory).purge(age, dry_run=args.dry_run)
    except OSError as exc:
        print(f"callcenter: cannot purge {directory}: {exc}", file=sys.stderr)
        return 1
    verb = "would remove" if args.dry_run else "removed"
    for path in removed:
        print(f"{verb} {path}")
    recordings = sum(1 for path in removed if path.suffix == ".wav")
    print(f"{verb} {recordings} recording(s), {len(removed)} file(s) from {directory}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    # Importing the service takes a second or more on a busy machine; a stop signal in that
    # time must stop it cleanly once it runs, not kill it with the default handler.
    early_stop = {"asked": False}

    def remember_stop(*_: object) -> None:
        early_stop["asked"] = True

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, remember_stop)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(
            args.config,
            overrides={
                "sip.port": args.sip_port,
                "http.port": args.http_port,
                "data_dir": args.data_dir,
                "redis_url": args.redis_url,
            },
        )
    except ConfigError as exc:
        print(f"callcenter: configuration error: {exc}", file=sys.stderr)
        return 2

    # The asyncio reactor lets redis.asyncio and Twisted share one loop; it must be installed
    # before anything imports the global reactor.
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)
    from twisted.internet import reactor as installed
    from twisted.internet.error import BindError
    from twisted.python import log as twisted_log

    from callcenter.app import CallCenter, StartupError
    from callcenter.store.embedded import EmbeddedRedisError
    from callcenter.store.link import RedisUnavailableError

    twisted_log.PythonLoggingObserver("twisted").start()
    if args.log_level != "DEBUG":  # "Starting factory…" chatter; Twisted's errors still show
        logging.getLogger("twisted").setLevel(logging.WARNING)
    reactor: Any = installed
    app = CallCenter(config, reactor)
    outcome = {"code": 0}
    stopping = {"asked": False}

    def stop_once(*_: object) -> None:
        """One shutdown, however many signals or failures ask for it."""
        if not stopping["asked"]:
            stopping["asked"] = True
            reactor.stop()

    def started_or_failed() -> None:
        def failed(failure: Any) -> None:
            error = failure.value
            if stopping["asked"]:
                return  # stopped during start-up: not a start failure
            known = (StartupError, ConfigError, RedisUnavailableError, EmbeddedRedisError)
            if isinstance(error, (*known, OSError, BindError)):
                print(f"callcenter: cannot start: {error}", file=sys.stderr)
            else:
                print(f"callcenter: cannot start:\n{failure.getTraceback()}", file=sys.stderr)
            outcome["code"] = 1
            stop_once()

        app.start_deferred().addErrback(failed)

    reactor.addSystemEventTrigger("before", "shutdown", app.stop_deferred)

    def take_signals() -> None:
        # After Twisted installed its own (it must keep SIGCHLD to reap the workers): ours
        # stop once, where Twisted's would raise ReactorNotRunning on a second Ctrl-C.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, lambda *_: reactor.callFromThread(stop_once))
        signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(app.reload_flows))
        if early_stop["asked"]:
            stop_once()

    reactor.callWhenRunning(take_signals)
    # Start on the loop's first turn: "when running" triggers fire before asyncio's loop runs.
    reactor.callWhenRunning(reactor.callLater, 0, started_or_failed)
    reactor.run()
    # Stopped: a late Ctrl-C must not kill the exit (Python's finalization would restore the
    # default handlers, which die on the signal; SIG_IGN survives it).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)
    return outcome["code"]


if __name__ == "__main__":
    sys.exit(main())
