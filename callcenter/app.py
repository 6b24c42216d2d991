"""Wiring: builds every part from the config, starts them in order and stops them cleanly.

Start order follows dependencies: Redis (embedded or by URL; fail fast if unreachable), the
flows (refuse to start on an invalid one), their prompts, the media worker pool, then the SIP
front and the HTTP API. Stop runs backwards: refuse new calls, hang up the active ones, let the
workers finish, flush pending Redis writes, stop Redis.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import LoopingCall, deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from callcenter.agents import AgentTokenError
from callcenter.agents.feature_codes import FeatureCodeDesk
from callcenter.agents.http import AgentsResource
from callcenter.agents.service import AgentsService
from callcenter.aio import as_deferred
from callcenter.calls.http import CallsResource
from callcenter.calls.prompts import PromptFiles
from callcenter.calls.service import CallService, RedisJournal, overflow_key
from callcenter.config import Config, wallboard_thresholds
from callcenter.domain.ivr.actions import Prompt
from callcenter.domain.ivr.library import FlowLibrary
from callcenter.domain.ivr.problems import FlowProblem
from callcenter.history.database import HistoryDatabase
from callcenter.history.service import HistoryService
from callcenter.history.tables import calls as history_calls
from callcenter.kpi.book_config import book_for, queue_targets
from callcenter.kpi.feed import KpiFeed
from callcenter.kpi.http import kpis_endpoint
from callcenter.live.access import WallboardAccess
from callcenter.live.feed import LiveFeed
from callcenter.live.http import WallboardApi, WallboardPage
from callcenter.live.kpis import today_from
from callcenter.live.snapshot import LiveReader
from callcenter.media.moh import default_hold_music
from callcenter.media.pool import PoolSettings, WorkerPool
from callcenter.media.prompts import convert_wav, render_say
from callcenter.metrics.call_counters import CallCounters
from callcenter.metrics.health import Parts, ServiceHealthCollector
from callcenter.metrics.http import MetricsResource
from callcenter.metrics.live import LiveState
from callcenter.monitor.admission import MonitorAdmission
from callcenter.monitor.desk import AnsweredOffers, MonitorDesk, mode_codes
from callcenter.monitor.elsewhere import ConversationsElsewhere
from callcenter.monitor.http import MonitorEndpoint
from callcenter.monitor.ringer import MonitorRinger
from callcenter.monitor.sessions import MonitorSessions
from callcenter.recording import files as recording_files
from callcenter.recording.http import CallRecordingControl, RecordingsResource
from callcenter.recording.service import (
    WATCH_SECONDS,
    RecordingService,
    audio_url,
    track_sizes,
)
from callcenter.roster import Roster, build_roster, check_flow_queues
from callcenter.routing.agent_events import AgentStateJournal
from callcenter.routing.handoff import CallNotice, OfferHandoff
from callcenter.routing.http import QueuesResource, RoutingResource
from callcenter.routing.locator import BindingLocator
from callcenter.routing.service import RoutingService
from callcenter.routing.waiting import WaitingRoom, experiences
from callcenter.sip.front import FrontSettings, SipFront
from callcenter.sip.invite_auth import InviteAuthenticator
from callcenter.sip.registrar import LookupBy, Registrar, RegistrarSettings
from callcenter.store.audit import AuditLog
from callcenter.store.call_records import CallRecords, EventLog
from callcenter.store.embedded import EmbeddedRedis
from callcenter.store.link import RedisLink, redacted
from callcenter.store.registrations import RedisBindingStore
from callcenter.store.routing.state import RoutingState
from callcenter.store.routing.views import Match
from callcenter.store.routing.waiting import WaitingStore
from callcenter.supervisor.audit import AuditTrail
from callcenter.supervisor.calls import CallDesk
from callcenter.supervisor.http import add_call_actions, audit_endpoint
from callcenter.tickets.http import (
    CallFacts,
    CallsWithDisposition,
    DispositionDesk,
    TicketsResource,
)
from callcenter.tickets.service import TicketService
from callcenter.web.auth import TokenAuth, generated_admin_token
from callcenter.web.json_api import JsonEndpoint, Reply

log = logging.getLogger(__name__)

# How long active calls get to hang up cleanly when the service stops.
HANGUP_GRACE_SECONDS = 3.0


class StartupError(Exception):
    """The service cannot start; the message tells the operator what to fix."""


class CallCenter:
    def __init__(self, config: Config, reactor: Any) -> None:
        self.config = config
        self.reactor = reactor
        self.embedded: EmbeddedRedis | None = None
        self.link: RedisLink | None = None
        self.pool: WorkerPool | None = None
        self.front: SipFront | None = None
        self.calls: CallService | None = None
        self.flows: FlowLibrary | None = None
        self.http_port: IListeningPort | None = None
        self.flow_problems: list[str] = []
        self.prompts: PromptFiles | None = None
        self.roster: Roster | None = None
        self.registrar: Registrar | None = None
        self.routing: RoutingService | None = None
        self.agents: AgentsService | None = None
        self.waiting: WaitingRoom | None = None
        self.routing_state: RoutingState | None = None
        self.wallboard: LiveFeed | None = None
        self.handoff: OfferHandoff | None = None
        self.history: HistoryService | None = None
        self.recordings: RecordingService | None = None
        self._recording_watch: LoopingCall | None = None
        self.events: EventLog | None = None
        self.tickets: TicketService | None = None
        self.monitors: MonitorSessions | None = None
        self.kpis: KpiFeed | None = None
        self.monitor_ringer: MonitorRinger | None = None
        self.elsewhere: ConversationsElsewhere | None = None
        # Names this process among the controllers sharing one Redis (offers hand-off).
        self.controller_id = uuid.uuid4().hex
        self.started_at = time.time()

    def start_deferred(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.start())

    def stop_deferred(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self.stop())

    # --- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Each part in the order of what it needs; see the module docstring."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self._start_redis()
        await self._start_history()
        self._start_tickets()
        self._load_flows_and_roster()
        records = await self._start_media_and_calls()
        bindings, tokens = await self._start_routing_and_agents()
        self._start_sip(bindings)
        self._start_kpis()
        self._start_http(tokens, records)
        assert self.history is not None
        self.history.start_consuming()  # after every part registered its finished listeners

    async def _start_redis(self) -> None:
        config = self.config
        url = config.redis_url
        if url is None:
            self.embedded = EmbeddedRedis(config.data_dir / "redis")
            url = self.embedded.start()
            log.info("embedded Redis started (data in %s)", self.embedded.data_dir)
        self.link = RedisLink(url)
        await as_deferred(self.link.connect())  # RedisUnavailableError: clear message, exit 1
        self.link.start_monitor()
        self.events = EventLog(self.link)
        log.info("Redis at %s", redacted(url))

    async def _start_history(self) -> None:
        """The history database (schema created if missing) and its event-log consumer,
        which starts last so listeners (tickets) can register first."""
        assert self.link is not None
        try:
            database = HistoryDatabase(self.config.history_url)
        except Exception as exc:  # a URL SQLAlchemy cannot use (unknown driver, bad syntax)
            raise StartupError(f"history.url: {exc}") from exc
        self.history = HistoryService(
            database,
            self.link.url,
            self.reactor,
            consumer_name=self.controller_id,
            claim_idle_seconds=self.config.history.claim_idle_seconds,
        )
        await self.history.open()
        log.info("history database at %s", database.redacted_url())

    def _start_tickets(self) -> None:
        """The ticket outbox's listener on the history writer (same transaction as a call's
        end) and the courier delivering it (see README "Tickets")."""
        assert self.history is not None
        self.tickets = TicketService(self.config, self.history.database.engine, self._in_history)
        if self.tickets.enabled:
            self.history.writer.add_finished_listener(self.tickets.listener)
        self.tickets.start()
        log.info("tickets: %s", self.config.tickets.backend)

    async def _in_history(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the history database's thread pool."""
        assert self.history is not None
        return await self.history.run_async(functools.partial(fn, *args))

    async def _call_facts(self, call_id: str) -> CallFacts:
        """Does the call exist, and who took it (from the history, else its live record)?"""
        assert self.history is not None and self.link is not None
        engine = self.history.database.engine

        def settled() -> tuple[bool, str | None]:
            with engine.connect() as connection:
                row = connection.execute(
                    sa.select(history_calls.c.agent).where(history_calls.c.call_id == call_id)
                ).first()
            return (False, None) if row is None else (True, row.agent)

        known, agent = await self._in_history(settled)
        if known:
            return CallFacts(True, agent)
        live = await CallRecords(self.link, keep=self.config.records.keep).get(call_id)
        return CallFacts(live is not None, None)

    async def _live_call_of(self, agent_id: str) -> str | None:
        if self.agents is None:
            return None
        try:
            view = await self.agents.get(agent_id)
        except Exception:  # an agent unknown to the roster took no call
            return None
        return view.call_id

    def _load_flows_and_roster(self) -> None:
        """Flows (by number, and those queues overflow into) and agents/queues, cross-checked:
        an invalid one stops the start with every problem listed."""
        config = self.config
        served = {did: config.flow_path(f) for did, f in config.numbers.items()}
        for queue_config in config.queues.values():
            flow_file = queue_config.overflow.flow if queue_config.overflow else None
            if flow_file is not None:  # queue overflow into a flow: loaded and checked too
                served[overflow_key(flow_file)] = config.flow_path(flow_file)
        self.flows = FlowLibrary(served)
        problems = [str(p) for p in self.flows.problems]
        for name, queue in config.queues.items():
            o = queue.overflow
            target = self.flows.flow_for(overflow_key(o.flow)) if o and o.flow else None
            if o and o.node and target is not None and o.node not in target.nodes:
                problems.append(f"queues.{name}.overflow.node: no node {o.node!r} in {o.flow}")
        if problems:
            raise StartupError(
                "invalid IVR flow; fix it or check with `callcenter flows check`:\n"
                + "\n".join(problems)
            )

        self.roster = build_roster(config)  # ConfigError names the key at fault
        unknown_queues = check_flow_queues(self.roster, self.flows.served())
        if unknown_queues:
            raise StartupError("\n".join(unknown_queues))

    async def _start_media_and_calls(self) -> CallRecords:
        config = self.config
        assert self.link is not None and self.flows is not None and self.events is not None
        prompts = PromptFiles(
            config.prompt_cache,
            render_say,
            convert_wav,
            lambda f, *a: deferToThreadPool(self.reactor, self.reactor.getThreadPool(), f, *a),
        )
        self.prompts = prompts
        self.flow_problems = await prompts.prepare(self._all_prompts())
        hold_music = await self._hold_music()

        records = CallRecords(self.link, keep=config.records.keep)
        media = config.media
        self.pool = WorkerPool(
            self.reactor,
            PoolSettings(
                calls_per_worker=media.calls_per_worker,
                slots_per_call=media.slots_per_call,
                min_workers=media.min_workers,
                spare_workers=media.spare_workers,
                spare_ratio=media.spare_ratio,
                max_workers=media.max_workers,
                idle_retire_seconds=media.idle_retire_seconds,
                media_address=media.address,
                rtp_port_base=media.rtp_port_start,
                rtp_ports_per_worker=media.rtp_ports_per_worker,
                front_uri=PoolSettings.front_proxy(config.sip.host, config.sip.port),
            ),
            on_event=self._media_event,
            on_calls_lost=self._calls_lost,
        )
        self.calls = CallService(
            flows=self.flows,
            numbers=config.numbers,
            pool=self.pool,
            prompts=prompts,
            journal=RedisJournal(records, self.events),
            redis=self.link,
            clock=self.reactor,
            wall_time=time.time,
            ivr_time=lambda: datetime.now(UTC),
            hold_music=hold_music,
        )
        self._start_recordings()
        await self.pool.start()
        return records

    def _start_recordings(self) -> None:
        config = self.config
        assert self.pool is not None and self.events is not None
        directory = config.recording.directory
        pool = self.reactor.getThreadPool()

        def save(finished: recording_files.Finished) -> Deferred[dict[str, Any]]:
            url = audio_url(finished.call_id, finished.leg)
            return deferToThreadPool(
                self.reactor, pool, recording_files.save, directory, finished, url
            )

        self.recordings = RecordingService(
            directory,
            config.recording.spool_dir,
            {name: queue.recording for name, queue in config.queues.items()},
            self.pool,
            self.events,
            save,
            time.time,
            codes=(config.recording.pause_code, config.recording.resume_code),
            ivr_leg=config.recording.ivr_leg,
            sizes=lambda paths: deferToThreadPool(self.reactor, pool, track_sizes, paths),
        )
        self.recordings.start()
        self._recording_watch = LoopingCall(self.recordings.watch)
        self._recording_watch.clock = self.reactor
        self._recording_watch.start(WATCH_SECONDS, now=False)

    async def _start_routing_and_agents(self) -> tuple[RedisBindingStore, dict[str, str]]:
        config = self.config
        assert self.link is not None and self.roster is not None
        assert self.pool is not None and self.calls is not None
        bindings = RedisBindingStore(self.link)
        tokens = dict(config.http.tokens)
        if not tokens:
            tokens[generated_admin_token(config.data_dir)] = "admin"
            log.info("API admin token is in %s", config.data_dir / "api-token")
        assert self.events is not None
        routing_state = RoutingState(self.link, on_state_change=AgentStateJournal(self.events))
        self.routing_state = routing_state
        self.handoff = OfferHandoff(
            self.link, self.controller_id, self._offer_handed_over, self._call_notice
        )
        self.routing = RoutingService(
            routing_state,
            self.roster,
            self.pool,
            self.calls.sessions,
            self.reactor,
            time.time,
            front_host=_front_host(config.sip.host, config.sip.port),
            handoff=self.handoff,
        )
        self.waiting = WaitingRoom(
            routing_state,
            WaitingStore(self.link),
            self.roster,
            experiences(config.queues),
            self.calls.sessions,
            self.reactor,
            time.time,
            rematch=self.routing.rematch,
            divert=self.calls.divert,
        )
        self.routing.waiting = self.waiting
        if self.recordings is not None:
            recordings = self.recordings
            self.routing.on_connected = lambda offer, caller: recordings.conversation_started(
                offer.call_id, offer.leg, caller, offer.agent_id, offer.queue
            )
            self.routing.on_agent_digit = recordings.agent_digit
            self.calls.on_answered = recordings.call_answered
        self.calls.on_queued = self.routing.call_queued
        self.calls.on_call_ended = self.routing.call_ended
        self.agents = AgentsService(
            self.roster,
            routing_state,
            bindings,
            time.time,
            on_available=self.routing.agent_available,
            on_events=self.routing.calls_returned,
        )
        try:
            await as_deferred(self.agents.start(TokenAuth(tokens).bound_agents()))
        except AgentTokenError as exc:
            raise StartupError(str(exc)) from exc
        self.routing.start()
        self.waiting.start()
        self.handoff.start()
        return bindings, tokens

    def _start_sip(self, bindings: RedisBindingStore) -> None:
        config = self.config
        assert self.calls is not None and self.roster is not None and self.agents is not None
        sip = config.sip
        self.front = SipFront(
            self.reactor,
            FrontSettings(
                host=sip.host,
                port=sip.port,
                public_host=sip.public_host,
                invite_rate=sip.invites_per_second,
                invite_burst=sip.invite_burst,
                request_rate=sip.requests_per_second,
                request_burst=sip.request_burst,
            ),
            self.calls,
        )
        self.calls.front = self.front
        roster = self.roster
        self.registrar = Registrar(
            RegistrarSettings(
                realm=sip.realm,
                min_expires=sip.min_expires,
                max_expires=sip.max_expires,
                default_expires=sip.max_expires,
                max_failures=sip.auth_max_failures,
                block_seconds=sip.auth_block_seconds,
            ),
            LookupBy(roster.password),
            bindings,
            on_bindings=self.agents.on_bindings,
        )
        self.front.add_method_service("REGISTER", self.registrar)
        self.calls.feature_codes = FeatureCodeDesk(
            config.feature_codes,
            self.agents,
            roster.password,
            sip.realm,
            guard=self.registrar.guard,
        )
        self._start_monitoring(bindings)
        self.front.set_contact_locator(BindingLocator(roster, bindings, time.time))
        self.front.start()

    def _start_monitoring(self, bindings: RedisBindingStore) -> None:
        """Supervisors' listen/whisper/barge codes (``callcenter.monitor``)."""
        config = self.config
        assert self.calls is not None and self.roster is not None and self.pool is not None
        assert self.routing is not None and self.registrar is not None and self.events is not None
        assert self.front is not None
        codes = config.feature_codes
        assert self.link is not None and self.routing_state is not None
        self.elsewhere = ConversationsElsewhere(
            self.link, self.routing_state, self.controller_id, time.time
        )
        front = self.front.settings
        self.elsewhere.publish(f"{front.via_host}:{front.port}")
        desk = MonitorDesk(
            mode_codes(codes.listen, codes.whisper, codes.barge),
            self.roster,
            AnsweredOffers(self.routing.offers),
            InviteAuthenticator(config.sip.realm, self.roster.password, guard=self.registrar.guard),
            self.elsewhere,
        )
        self.monitors = MonitorSessions(self.pool, abort_dialog=self.front.abort_dialog)
        self.calls.monitoring = MonitorAdmission(
            desk, self.monitors, self.pool, self.events, time.time
        )

        async def registered(sip_username: str) -> bool:
            return bool(await bindings.current(sip_username, time.time()))

        self.monitor_ringer = MonitorRinger(
            self.roster.supervisors,
            self.roster.agents,
            AnsweredOffers(self.routing.offers),
            registered,
            self.monitors,
            self.pool,
            self.events,
            time.time,
            _front_host(config.sip.host, config.sip.port),
        )

    def _start_kpis(self) -> None:
        """Today's event log read into the KPI book, then followed (``callcenter.kpi``);
        this process's events counted for ``/metrics`` (``callcenter.metrics``)."""
        assert self.link is not None and self.events is not None
        self.kpis = KpiFeed(self.link.client, book_for(self.config))
        self.kpis.start()
        self.events.listeners.append(CallCounters(queue_targets(self.config)))

    def _add_metrics(self, root: Resource, auth: TokenAuth) -> None:
        """``/metrics``: per-process counters, this process's parts, shared live state."""
        assert self.link is not None and self.routing_state is not None
        health = ServiceHealthCollector(
            Parts(
                pool=lambda: self.pool,
                front=lambda: self.front,
                registrar=lambda: self.registrar,
                link=lambda: self.link,
                active_calls=lambda: len(self.calls.sessions) if self.calls else None,
            )
        )
        live = LiveState(self.link, LiveReader(self.link, self.routing_state))
        public = self.config.metrics.public
        root.putChild(
            b"metrics", MetricsResource(auth, public, live, self.kpis, [health], time.time)
        )

    def _start_http(self, tokens: dict[str, str], records: CallRecords) -> None:
        config = self.config
        sip = config.sip
        root = self._http_root(TokenAuth(tokens), records)
        self._add_wallboard(root, tokens)
        self._add_metrics(root, TokenAuth(tokens))
        self.http_port = self.reactor.listenTCP(
            config.http.port, Site(root), interface=config.http.host
        )
        log.info(
            "callcenter ready: SIP on %s:%d (UDP, TCP), HTTP on %s:%d",
            sip.host,
            sip.port,
            config.http.host,
            config.http.port,
        )

    def _add_wallboard(self, root: Resource, tokens: dict[str, str]) -> None:
        """``/wallboard`` (the page) and ``/api/wallboard`` (session, board, live events)."""
        assert self.link is not None and self.routing_state is not None
        thresholds = {name: wallboard_thresholds(q) for name, q in self.config.queues.items()}
        reader = LiveReader(self.link, self.routing_state)
        kpis = None if self.kpis is None else today_from(self.kpis, time.time)
        self.wallboard = LiveFeed(reader, self.link, thresholds, time.time, kpis=kpis)
        access = WallboardAccess(tokens, time.time)
        root.putChild(b"wallboard", WallboardPage())
        api = root.getStaticEntity(b"api")
        api.putChild(b"wallboard", WallboardApi(access, self.wallboard))

    async def _hold_music(self) -> Path:
        cache = self.config.prompt_cache
        source = self.config.media.hold_music
        run = deferToThreadPool
        pool = self.reactor.getThreadPool()
        if source is None:
            path: Path = await run(self.reactor, pool, default_hold_music, cache)
        else:
            path = await run(self.reactor, pool, convert_wav, Path(source), cache)
        return path

    def _http_root(self, auth: TokenAuth, records: CallRecords) -> Resource:
        root = Resource()
        api = Resource()
        root.putChild(b"api", api)
        root.putChild(b"healthz", JsonEndpoint(auth, {b"GET": (None, self._health)}))
        assert self.calls is not None and self.link is not None and self.recordings is not None
        assert self.routing_state is not None and self.routing is not None
        recordings = self.recordings
        assert self.tickets is not None and self.events is not None and self.roster is not None
        audit_log = AuditLog(self.link)
        audit = AuditTrail(self.events, audit_log)  # supervisor.action events, GET /api/audit
        api.putChild(b"audit", audit_endpoint(auth, audit_log))
        calls = CallsResource(auth, records, self.history)
        desk = CallDesk(
            WaitingStore(self.link),
            self.routing_state,
            records,
            self.routing.call_changed,
            audit,
            time.time,
        )
        add_call_actions(calls, auth, desk, self.roster.vocabulary)
        calls.add_action(b"recording", lambda call: CallRecordingControl(auth, recordings, call))
        ringer = self.monitor_ringer
        assert ringer is not None
        calls.add_action(b"monitor", lambda call: MonitorEndpoint(auth, ringer, call))
        tickets, events = self.tickets, self.events
        disposition = DispositionDesk(
            auth,
            tickets.outbox if tickets.enabled else None,
            self._in_history,
            self._call_facts,
            self._live_call_of,
            events.append,
            tickets.wake,
        )
        api.putChild(b"calls", CallsWithDisposition(calls, disposition))
        known_agents = {agent.id for agent in self.config.agents}
        api.putChild(
            b"tickets",
            TicketsResource(
                auth,
                tickets.helpdesk if tickets.builtin else None,
                tickets.outbox,
                self._in_history,
                tickets.wake,
                known_agents.__contains__,
            ),
        )
        in_thread = self._in_thread
        store = recording_files.RecordingStore(self.config.recording.directory)
        api.putChild(b"recordings", RecordingsResource(auth, store, in_thread))
        assert self.agents is not None
        api.putChild(b"agents", AgentsResource(auth, self.agents, audit))
        api.putChild(b"routing", RoutingResource(auth, self.routing_state, time.time, records))
        live = LiveReader(self.link, self.routing_state)
        api.putChild(b"queues", QueuesResource(auth, self.routing_state, live, time.time))
        assert self.kpis is not None
        api.putChild(b"kpis", kpis_endpoint(auth, self.kpis, time.time))
        api.putChild(
            b"flows",
            _Children({b"reload": JsonEndpoint(auth, {b"POST": ("admin", self._reload_flows)})}),
        )
        return root

    def _in_thread(self, f: Any, *args: Any) -> Deferred[Any]:
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), f, *args)

    def _media_event(self, event: dict[str, Any]) -> None:
        if self.monitors is not None and self.monitors.on_media_event(event):
            return  # a supervisor's call (monitored conversations' ends are watched too)
        if self.recordings is not None and self.recordings.handles(event):
            self.recordings.on_event(event)
        elif self.routing is not None and self.routing.handles(event):
            self.routing.on_leg_event(event)  # an agent's leg
        elif self.calls is not None:
            self.calls.on_media_event(event)

    def _offer_handed_over(self, match: Match) -> None:
        if self.routing is not None:
            self.routing.offer_handed_over(match)

    def _call_notice(self, notice: CallNotice) -> None:
        if self.routing is not None:
            self.routing.apply_notice(notice)

    def _calls_lost(self, call_ids: list[str]) -> None:
        if self.monitors is not None:
            self.monitors.calls_lost(call_ids)
        if self.recordings is not None:
            self.recordings.calls_lost(call_ids)
        if self.routing is not None:
            self.routing.calls_lost(call_ids)
        if self.calls is not None:
            self.calls.on_calls_lost(call_ids)

    # --- operations ----------------------------------------------------------------------

    def _all_prompts(self) -> list[Prompt]:
        assert self.flows is not None
        return [prompt for flow in self.flows.served() for prompt in flow.all_prompts()]

    def reload_flows(self) -> list[FlowProblem]:
        """Re-read the flow files; an invalid one keeps its last good version (and says why)."""
        assert self.flows is not None and self.prompts is not None
        problems = self.flows.reload()
        self.prompts.prepare(self._all_prompts())  # new prompts render in the background
        for problem in problems:
            log.error("flow reload: %s (keeping the last good version)", problem)
        if not problems:
            log.info("flows reloaded")
        return problems

    async def _reload_flows(self, _: Request) -> Reply:
        problems = self.reload_flows()
        return (200 if not problems else 422), {
            "reloaded": not problems,
            "problems": [str(p) for p in problems],
        }

    async def _health(self, _: Request) -> Reply:
        assert self.link is not None and self.pool is not None and self.front is not None
        assert self.calls is not None
        pool = self.pool.stats()
        redis_ok = self.link.healthy
        recordings_ok = self.recordings is None or self.recordings.healthy
        healthy = redis_ok and recordings_ok and not self.calls.stopping
        body = {
            "status": "ok" if healthy else "degraded",
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "redis": {
                "healthy": redis_ok,
                "pending_writes": self.link.pending,
                "outages": self.link.outages,
                "embedded": self.embedded is not None,
            },
            "workers": dataclasses.asdict(pool),
            "sip": self.front.stats(),
            "registrar": dataclasses.asdict(self.registrar.stats) if self.registrar else None,
            "calls": {"active": len(self.calls.sessions), "rejected": self.calls.rejected},
            "flows": {"prompt_problems": self.flow_problems},
            "recordings": self.recordings.health() if self.recordings else None,
            "history": None if self.history is None else self.history.health(),
        }
        return (200 if body["status"] == "ok" else 503), body

    # --- stop ----------------------------------------------------------------------------

    async def stop(self) -> None:
        log.info("stopping: hanging up active calls")
        if self._recording_watch is not None and self._recording_watch.running:
            self._recording_watch.stop()
        if self.routing is not None:
            self.routing.stop()
        if self.waiting is not None:
            self.waiting.stop()
        if self.elsewhere is not None:
            self.elsewhere.withdraw()
        if self.monitors is not None:
            self.monitors.hang_up_all()
        if self.calls is not None:
            self.calls.hang_up_all("service stopping")
            deadline = time.monotonic() + HANGUP_GRACE_SECONDS
            while (
                self.calls.sessions or (self.monitors is not None and self.monitors.sessions)
            ) and time.monotonic() < deadline:
                await deferLater(self.reactor, 0.05)
        stops: list[Deferred[Any]] = []
        if self.http_port is not None:
            stops.append(maybeDeferred(self.http_port.stopListening))
        if self.front is not None:
            stops.append(self.front.stop())
        if self.pool is not None:
            stops.append(self.pool.stop())
        await DeferredList(stops, consumeErrors=True)
        if self.wallboard is not None:
            await as_deferred(self.wallboard.stop())
        if self.handoff is not None:
            await as_deferred(self.handoff.stop())
        if self.kpis is not None:
            await as_deferred(self.kpis.stop())
        if self.link is not None:
            await as_deferred(self.link.drained())
        if self.tickets is not None:  # undelivered tickets stay in the outbox for the next start
            await as_deferred(self.tickets.stop())
        if self.history is not None:  # what it has not written stays pending for the next start
            await self.history.close()
        if self.link is not None:
            await as_deferred(self.link.close())
        if self.embedded is not None:
            self.embedded.stop()
        log.info("stopped")


def _front_host(host: str, port: int) -> str:
    """host:port the media workers reach the SIP front at (loopback for a wildcard listen)."""
    reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"{reachable}:{port}"


class _Children(Resource):
    def __init__(self, children: dict[bytes, Resource]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        for name, child in children.items():
            self.putChild(name, child)
