"""Service configuration: embedded defaults, a YAML file, environment overrides, CLI flags.

Loaded once at start-up and passed down; nothing reads it from a global. Precedence, lowest
first: the defaults below, the YAML file (``--config``), ``CALLCENTER_*`` environment variables
(``CALLCENTER_SIP__PORT=5070``: a double underscore steps into a section), then command-line
flags. Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callcenter.domain.recording import policy_share
from callcenter.domain.wallboard import Thresholds
from callcenter.web.auth import parse_role

ENV_PREFIX = "CALLCENTER_"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


def default_flows_dir() -> Path:
    """``ivr_flows`` in the working directory, else the one beside the installed package."""
    here = Path("ivr_flows")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "ivr_flows"


@dataclass
class SipConfig:
    host: str = "0.0.0.0"  # address the SIP front listens on (UDP and TCP)
    port: int = 5060
    public_host: str | None = None  # address written in Record-Route; default: host or 127.0.0.1
    invites_per_second: float = 20.0  # per source IP, token bucket rate for new calls
    invite_burst: int = 40
    requests_per_second: float = 200.0  # per source IP, all requests
    request_burst: int = 400
    realm: str = "callcenter"  # digest realm agents' phones authenticate in
    min_expires: int = 60  # shorter REGISTERs get 423 Interval Too Brief
    max_expires: int = 3600  # longer ones are granted this much
    auth_max_failures: int = 5  # failed authentications from one IP within a minute…
    auth_block_seconds: float = 300.0  # …block that IP for this long (403)


@dataclass
class HttpConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    # Bearer tokens for the API: token → role (agent, agent:<agent id>, supervisor, admin).
    # When empty, an admin token is generated into <data_dir>/api-token on first start.
    tokens: dict[str, str] = field(default_factory=dict)


@dataclass
class MediaConfig:
    address: str = "127.0.0.1"  # where workers bind RTP and what their SDP advertises
    rtp_port_start: int = 20000
    rtp_ports_per_worker: int = 40
    calls_per_worker: int = 4  # 4 with the PyPI pjsua2 wheel (PJSUA_MAX_CALLS)
    slots_per_call: int = 2  # a caller keeps room for its agent leg in the same worker
    min_workers: int = 0  # started at boot, never retired: pre-start for your expected peak
    spare_workers: int = 1
    spare_ratio: float = 0.1  # extra spare places as a share of busy ones (ramps)
    max_workers: int = 120
    idle_retire_seconds: float = 60.0
    hold_music: str | None = None  # WAV file; default: a built-in melody


@dataclass
class EscalationConfig:
    after_seconds: float = 60.0  # wait after which this step applies (steps add up)
    lower_by: int = 0  # lower every required level by this much
    min_levels: dict[str, int] = field(default_factory=dict)  # set these minimums
    drop: list[str] = field(default_factory=list)  # stop requiring these skills


@dataclass
class OverflowConfig:
    """Where a caller goes when it leaves a queue unanswered (see "While waiting")."""

    queue: str | None = None  # move to this queue (priority kept)
    flow: str | None = None  # or: continue in this IVR flow file (in flows_dir)…
    node: str | None = None  # …from this node (default: the flow's start)
    message: str | None = None  # spoken first; without a queue, then the call ends…
    hangup: bool = True  # …unless false: at max wait the caller hears it and keeps waiting


@dataclass
class WallboardConfig:
    """Where a queue's wallboard tile turns amber and red (see README "Wallboard")."""

    waiting_amber: int = 5  # calls waiting (reached or passed)
    waiting_red: int = 10
    longest_wait_amber_seconds: float | None = None  # default: the queue's service_level_seconds
    longest_wait_red_seconds: float | None = None  # default: twice service_level_seconds
    service_level_amber: float | None = 80.0  # percent, below it (null: not checked)
    service_level_red: float | None = 60.0


@dataclass
class QueueConfig:
    skills: dict[str, int] = field(default_factory=dict)  # skill → minimum level (1-10)
    strategy: str = "longest-idle"  # most-skilled, round-robin, fewest-calls, least-talk-time
    weight: float = 1.0  # share of attention when an agent serves several queues
    wrap_up_seconds: float = 10.0
    ring_timeout_seconds: float = 20.0  # then the agent is paused "no-answer" (RONA)
    max_wait_seconds: float | None = None
    service_level_seconds: float = 20.0  # answered within this: service level met
    service_level_target: float = 0.8  # share of calls to meet it (alerts, wallboard)
    short_abandon_seconds: float = 5.0  # callers hanging up sooner are short abandons
    escalation: list[EscalationConfig] = field(default_factory=list)
    # While waiting (callcenter.routing.waiting): announcements, overflow, empty-queue rules.
    announce_position: bool = False
    announce_wait: bool = False
    announce_first_seconds: float = 30.0
    announce_every_seconds: float = 60.0
    overflow: OverflowConfig | None = None
    join_when_empty: bool = True  # false: nobody logged in, the caller overflows at once
    leave_when_empty: bool = False  # true: the last agent logs out, waiting callers overflow
    ticket_priority: str = "normal"  # low, normal, high, urgent: tickets from this queue
    wallboard: WallboardConfig = field(default_factory=WallboardConfig)
    recording: str = "always"  # bridged conversations recorded: always, never or "NN%"


@dataclass
class AgentConfig:
    id: str = ""
    name: str = ""
    sip_username: str = ""  # defaults to id
    password: str = ""  # SIP digest password; never logged
    skills: dict[str, int] = field(default_factory=dict)
    queues: list[str] = field(default_factory=list)


@dataclass
class SupervisorConfig:
    """Someone allowed to listen to, whisper to and barge into agents' calls from a phone."""

    id: str = ""
    name: str = ""
    sip_username: str = ""  # defaults to id
    password: str = ""  # SIP digest password; never logged


@dataclass
class FeatureCodes:
    """What an agent dials from the softphone to change state (answered by the service)."""

    login: str = "*40"
    logout: str = "*41"
    pause: str = "*42"  # followed by an optional reason code digit(s): *421
    ready: str = "*43"
    # What a supervisor dials, followed by an agent id (*50ann): monitor that agent's call.
    listen: str = "*50"
    whisper: str = "*51"
    barge: str = "*52"


@dataclass
class WebhookConfig:
    url: str | None = None  # POST target
    secret: str | None = None  # HMAC-SHA256 key (set it by environment; never logged)


@dataclass
class ZendeskConfig:
    url: str | None = None  # https://<subdomain>.zendesk.com
    email: str | None = None  # the API user (basic auth <email>/token)
    api_token: str | None = None  # never logged; set it by environment


@dataclass
class FreshdeskConfig:
    url: str | None = None  # https://<domain>.freshdesk.com
    api_key: str | None = None  # never logged; set it by environment
    call_id_field: str = "cf_call_id"  # custom single-line text ticket field (never twice)


@dataclass
class TicketsConfig:
    """Tickets for finished calls (README "Tickets")."""

    backend: str = "builtin"  # builtin, webhook, zendesk, freshdesk, none
    public_base_url: str | None = None  # for recording links; default http://<http host:port>
    after_hours_priority: str = "normal"
    timeout_seconds: float = 10.0  # per helpdesk request
    first_retry_seconds: float = 2.0  # backoff: doubles per attempt…
    max_retry_seconds: float = 600.0  # …up to this
    give_up_after_hours: float = 72.0  # then a failing ticket is dead-lettered
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    zendesk: ZendeskConfig = field(default_factory=ZendeskConfig)
    freshdesk: FreshdeskConfig = field(default_factory=FreshdeskConfig)


@dataclass
class RecordingConfig:
    """Where recordings go and the keys an agent presses to pause them (see "Recording")."""

    directory: Path = Path("recordings")  # recordings/YYYY/MM/DD/<call-id>.wav + .json
    spool: Path | None = (
        None  # the workers' mono tracks while recording; default <directory>/.spool
    )
    pause_code: str = "*1"  # pressed by the agent during the conversation (card numbers)
    resume_code: str = "*2"
    ivr_leg: bool = False  # also record each call's IVR part (<call-id>.ivr.wav)

    @property
    def spool_dir(self) -> Path:
        return self.spool if self.spool is not None else self.directory / ".spool"


@dataclass
class RecordsConfig:
    keep: int = 10000  # how many recent call records Redis keeps for GET /api/calls


SERVICE_LEVEL_FORMULAS = (
    "short-abandons-excluded",
    "abandons-included",
    "abandons-ignored",
    "abandons-within-threshold-excluded",
    "abandons-within-threshold-positive",
)


@dataclass
class KpiConfig:
    # Which calls the service level divides by (README "Metrics and KPIs").
    service_level_formula: str = "short-abandons-excluded"


@dataclass
class MetricsConfig:
    public: bool = False  # true: /metrics without a token (else a supervisor token)


@dataclass
class HistoryConfig:
    # SQLAlchemy URL of the history database; None: SQLite in data_dir/history.sqlite3.
    url: str | None = None
    # Events another process took but left unwritten this long are taken over (it died).
    claim_idle_seconds: float = 30.0


@dataclass
class Config:
    data_dir: Path = Path("data")
    redis_url: str | None = None  # None: start an embedded redis-server under data_dir
    flows_dir: Path = field(default_factory=default_flows_dir)
    # Dialled number (user part of the Request-URI) → flow file in flows_dir.
    numbers: dict[str, str] = field(
        default_factory=lambda: {"100": "support.yaml", "support": "support.yaml"}
    )
    timezone: str = "UTC"  # for reports: KPIs' "today" starts at midnight here
    sip: SipConfig = field(default_factory=SipConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    records: RecordsConfig = field(default_factory=RecordsConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    skills: list[str] = field(default_factory=list)  # every skill name agents/queues may use
    queues: dict[str, QueueConfig] = field(
        default_factory=lambda: {name: QueueConfig() for name in ("billing", "support", "sales")}
    )
    agents: list[AgentConfig] = field(default_factory=list)
    supervisors: list[SupervisorConfig] = field(default_factory=list)
    feature_codes: FeatureCodes = field(default_factory=FeatureCodes)
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    kpi: KpiConfig = field(default_factory=KpiConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)

    @property
    def prompt_cache(self) -> Path:
        return self.data_dir / "prompts"

    @property
    def history_url(self) -> str:
        if self.history.url:
            return self.history.url
        return f"sqlite:///{(self.data_dir / 'history.sqlite3').resolve()}"

    def flow_path(self, file: str) -> Path:
        return (self.flows_dir / file).resolve()


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration from the layers described in the module docstring.

    ``overrides`` are dotted keys (``"sip.port"``) from command-line flags; None values are
    ignored so that an absent flag does not hide a file or environment setting.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys")
        data = loaded
    for key, value in _environment_overrides(environ if environ is not None else os.environ):
        _set_dotted(data, key, yaml.safe_load(value) if value else value)
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    config: Config = _build(Config, data, "")
    _validate(config)
    if path is not None and not config.flows_dir.is_absolute() and "flows_dir" in data:
        config.flows_dir = path.parent / config.flows_dir
    return config


def _environment_overrides(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    found = []
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            found.append((key, value))
    return sorted(found)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
        node = child
    node[last] = value


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where + '.' if where else ''}{unknown[0]}: unknown configuration key")
    values = {}
    for name, raw in data.items():
        key = f"{where}.{name}" if where else name
        values[name] = _coerce(hints[name], raw, key)
    return cls(**values)


def _coerce(kind: Any, raw: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _build(kind, raw, key)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw is None:
            return None
        return _coerce(options[0], raw, key)
    if origin is dict:
        if not isinstance(raw, dict):
            raise ConfigError(f"{key}: expected a mapping")
        value_kind = typing.get_args(kind)[1]
        return {str(k): _coerce(value_kind, v, f"{key}.{k}") for k, v in raw.items()}
    if origin is list:
        if not isinstance(raw, list):
            raise ConfigError(f"{key}: expected a list")
        item_kind = typing.get_args(kind)[0]
        return [_coerce(item_kind, v, f"{key}[{i}]") for i, v in enumerate(raw)]
    if kind is Path:
        if not isinstance(raw, str | Path):
            raise ConfigError(f"{key}: expected a path")
        return Path(raw)
    if kind is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{key}: expected true or false")
        return raw
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ConfigError(f"{key}: expected a whole number")
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key}: expected a whole number, got {raw!r}") from None
    if kind is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ConfigError(f"{key}: expected a number")
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {raw!r}") from None
    if kind is str:
        if not isinstance(raw, str | int | float):
            raise ConfigError(f"{key}: expected text")
        return str(raw)
    raise ConfigError(f"{key}: unsupported setting type")  # pragma: no cover


def _validate(config: Config) -> None:
    for key, port in (("sip.port", config.sip.port), ("http.port", config.http.port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"{key}: {port} is not a port number")
    if config.media.calls_per_worker < 1:
        raise ConfigError("media.calls_per_worker: must be at least 1")
    if not 1 <= config.media.slots_per_call <= config.media.calls_per_worker:
        raise ConfigError("media.slots_per_call: must be between 1 and media.calls_per_worker")
    if config.media.max_workers < 1:
        raise ConfigError("media.max_workers: must be at least 1")
    if not 0 <= config.media.min_workers <= config.media.max_workers:
        raise ConfigError("media.min_workers: must be between 0 and media.max_workers")
    for token, role in config.http.tokens.items():
        # agent:<agent id> binds an agent token to one agent, supervisor:<name> names its
        # holder (callcenter.web.auth.parse_role); an agent id is checked against the roster
        # at start.
        try:
            parse_role(role)
        except ValueError as exc:
            raise ConfigError(f"http.tokens: {exc}") from None
        if len(token) < 16:
            raise ConfigError("http.tokens: a token must be at least 16 characters")
    if config.history.claim_idle_seconds < 1:
        raise ConfigError("history.claim_idle_seconds: must be at least 1")
    if not config.numbers:
        raise ConfigError("numbers: at least one dialled number must map to a flow")
    for name, queue in config.queues.items():
        _validate_waiting(name, queue, config.queues)
        if queue.ticket_priority not in TICKET_PRIORITIES:
            raise ConfigError(
                f"queues.{name}.ticket_priority: {queue.ticket_priority!r} is not one of "
                + ", ".join(TICKET_PRIORITIES)
            )
        try:
            wallboard_thresholds(queue)
        except ValueError as exc:
            raise ConfigError(f"queues.{name}.wallboard: {exc}") from None
        try:
            policy_share(queue.recording)
        except ValueError as exc:
            raise ConfigError(f"queues.{name}.recording: {exc}") from None
        _validate_kpi_targets(name, queue)
    _validate_tickets(config.tickets)
    _validate_recording(config.recording)
    if config.kpi.service_level_formula not in SERVICE_LEVEL_FORMULAS:
        raise ConfigError(
            f"kpi.service_level_formula: {config.kpi.service_level_formula!r} is not one of "
            + ", ".join(SERVICE_LEVEL_FORMULAS)
        )
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown time zone {config.timezone!r}") from None


TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_BACKENDS = ("builtin", "webhook", "zendesk", "freshdesk", "none")


def _validate_tickets(tickets: TicketsConfig) -> None:
    if tickets.backend not in TICKET_BACKENDS:
        raise ConfigError(
            f"tickets.backend: {tickets.backend!r} is not one of " + ", ".join(TICKET_BACKENDS)
        )
    if tickets.after_hours_priority not in TICKET_PRIORITIES:
        raise ConfigError("tickets.after_hours_priority: must be low, normal, high or urgent")
    if tickets.timeout_seconds <= 0 or tickets.first_retry_seconds <= 0:
        raise ConfigError("tickets.timeout_seconds and first_retry_seconds: must be positive")
    if tickets.max_retry_seconds < tickets.first_retry_seconds:
        raise ConfigError("tickets.max_retry_seconds: must be at least first_retry_seconds")
    needs = {
        "webhook": (("url", tickets.webhook.url), ("secret", tickets.webhook.secret)),
        "zendesk": (
            ("url", tickets.zendesk.url),
            ("email", tickets.zendesk.email),
            ("api_token", tickets.zendesk.api_token),
        ),
        "freshdesk": (("url", tickets.freshdesk.url), ("api_key", tickets.freshdesk.api_key)),
    }
    for key, value in needs.get(tickets.backend, ()):
        if not value:
            env = f"CALLCENTER_TICKETS__{tickets.backend.upper()}__{key.upper()}"
            raise ConfigError(f"tickets.{tickets.backend}.{key}: required (or set {env})")
    for key, url in (
        ("webhook.url", tickets.webhook.url),
        ("zendesk.url", tickets.zendesk.url),
        ("freshdesk.url", tickets.freshdesk.url),
        ("public_base_url", tickets.public_base_url),
    ):
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"tickets.{key}: must start with http:// or https://")


def wallboard_thresholds(queue: QueueConfig) -> Thresholds:
    """The queue's tile thresholds, longest-wait ones defaulting from its service level."""
    board = queue.wallboard
    amber = board.longest_wait_amber_seconds
    red = board.longest_wait_red_seconds
    if amber is None:
        amber = (
            queue.service_level_seconds if red is None else min(queue.service_level_seconds, red)
        )
    if red is None:
        red = max(2 * queue.service_level_seconds, amber)
    return Thresholds(
        waiting_amber=board.waiting_amber,
        waiting_red=board.waiting_red,
        longest_wait_amber_seconds=amber,
        longest_wait_red_seconds=red,
        service_level_amber=board.service_level_amber,
        service_level_red=board.service_level_red,
    )


def _validate_kpi_targets(name: str, queue: QueueConfig) -> None:
    where = f"queues.{name}"
    if queue.service_level_seconds < 0:
        raise ConfigError(f"{where}.service_level_seconds: cannot be negative")
    if not 0 <= queue.service_level_target <= 1:
        raise ConfigError(f"{where}.service_level_target: must be between 0 and 1 (0.8 = 80 %)")
    if queue.short_abandon_seconds < 0:
        raise ConfigError(f"{where}.short_abandon_seconds: cannot be negative")


def _validate_recording(recording: RecordingConfig) -> None:
    codes = {"recording.pause_code": recording.pause_code,
             "recording.resume_code": recording.resume_code}  # fmt: skip
    for key, code in codes.items():
        if not code or len(code) > 8 or any(c not in "0123456789*#" for c in code):
            raise ConfigError(f"{key}: 1-8 keys of 0-9, * and #")
    pause, resume = recording.pause_code, recording.resume_code
    if pause.endswith(resume) or resume.endswith(pause):
        raise ConfigError("recording.pause_code and recording.resume_code: one ends the other")


def _validate_waiting(name: str, queue: QueueConfig, queues: Mapping[str, QueueConfig]) -> None:
    where = f"queues.{name}"
    if queue.announce_first_seconds < 0:
        raise ConfigError(f"{where}.announce_first_seconds: cannot be negative")
    if queue.announce_every_seconds < 5:
        raise ConfigError(f"{where}.announce_every_seconds: must be at least 5")
    overflow = queue.overflow
    if overflow is None:
        return
    if overflow.flow is not None and overflow.queue is not None:
        raise ConfigError(f"{where}.overflow: give a queue or a flow, not both")
    if overflow.node is not None and overflow.flow is None:
        raise ConfigError(f"{where}.overflow.node: needs overflow.flow")
    if overflow.flow is not None:
        pass  # the flow and its node are checked when flows load (callcenter.app)
    elif overflow.queue is not None:
        if overflow.queue not in queues:
            raise ConfigError(f"{where}.overflow.queue: unknown queue {overflow.queue!r}")
        if overflow.queue == name:
            raise ConfigError(f"{where}.overflow.queue: a queue cannot overflow into itself")
    elif not overflow.hangup and not overflow.message:
        raise ConfigError(f"{where}.overflow: give a queue, a message, or hangup: true")
    if overflow.message is not None and not overflow.message.strip():
        raise ConfigError(f"{where}.overflow.message: cannot be empty")
