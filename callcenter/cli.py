"""The ``callcenter`` command: ``serve`` runs the service, ``flows check`` validates flow files.

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
    return parser


def _check_flows(files: list[Path]) -> int:
    from callcenter.domain.ivr.loader import check_files

    problems = check_files(files)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{len(files)} flow file(s) OK")
    return 1 if problems else 0


def _serve(args: argparse.Namespace) -> int:
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
