"""Local stand-ins for the helpdesks tickets are delivered to: a webhook receiver, Zendesk and
Freshdesk. Each checks every request strictly against the documented format (auth, required
fields, types, enum values, no unknown fields) and answers with the documented response shapes
and error bodies; anything the adapter sends wrong is recorded in ``violations`` (and refused),
so a test fails on it. Faults are scripted: ``fail_next(503, 503)``, ``slow_next(seconds)``
(the request is processed, the answer comes late: the ambiguous case), ``stop()``/``start()``
(helpdesk down, same port).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from tests.support.ports import free_port

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    status: int | None = None  # answer this instead of processing
    delay: float = 0.0  # process, then answer this late
    retry_after: str | None = None


class FakeHelpdesk:
    """The HTTP plumbing and fault script; subclasses implement ``handle``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Seen] = []
        self.violations: list[str] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- faults ----------------------------------------------------------------------------

    def fail_next(self, *statuses: int, retry_after: str | None = None) -> None:
        with self._lock:
            self._faults.extend(Fault(status=s, retry_after=retry_after) for s in statuses)

    def slow_next(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._faults.extend(Fault(delay=seconds) for _ in range(count))

    # --- life ------------------------------------------------------------------------------

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            request_queue_size = 256  # many couriers connecting at once

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        seen = Seen(
            handler.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self._lock:
            self.requests.append(seen)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.status is not None:
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            self._reply(handler, (fault.status, {"error": "scripted failure"}, headers))
            return
        with self._lock:
            answer = self.handle(seen)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        self._reply(handler, answer)

    def _reply(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        status, body, headers = answer
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json; charset=utf-8")
            handler.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timeout)

    def handle(self, seen: Seen) -> Answer:
        raise NotImplementedError

    def violation(self, message: str) -> None:
        self.violations.append(message)

    def basic_auth(self, seen: Seen) -> tuple[str, str] | None:
        header = seen.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password


H = TypeVar("H", bound=FakeHelpdesk)


@contextmanager
def running(fake: H) -> Iterator[H]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


# --- webhook ------------------------------------------------------------------------------


class WebhookReceiver(FakeHelpdesk):
    """Checks the signature and the idempotency key; keeps one ticket per key."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.tickets: dict[str, dict[str, Any]] = {}  # idempotency key → event
        self.duplicates: list[str] = []

    def handle(self, seen: Seen) -> Answer:
        expected = "sha256=" + hmac.new(self.secret.encode(), seen.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(seen.headers.get("x-callcenter-signature", ""), expected):
            return 401, {"error": "bad signature"}, {}
        key = seen.headers.get("idempotency-key")
        if not key or seen.headers.get("content-type") != "application/json":
            self.violation(f"missing idempotency key or content type: {seen.headers}")
            return 400, {"error": "bad request"}, {}
        event = seen.json()
        if event.get("idempotency_key") != key or event.get("event") not in (
            "ticket.create",
            "ticket.update",
        ):
            self.violation(f"bad event: {event}")
            return 400, {"error": "bad event"}, {}
        if key in self.tickets:
            self.duplicates.append(key)
            return 200, {"id": self.tickets[key]["id"]}, {}
        event["id"] = f"T{len(self.tickets) + 1}"
        self.tickets[key] = event
        return 201, {"id": event["id"]}, {}

    def created(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.tickets.values() if e["event"] == "ticket.create"]


# --- Zendesk ------------------------------------------------------------------------------

ZENDESK_PRIORITIES = ("urgent", "high", "normal", "low")
ZENDESK_TICKET_FIELDS = {
    "subject", "comment", "requester_id", "requester", "priority", "tags", "external_id",
    "type", "status", "assignee_id", "group_id", "custom_fields", "additional_tags",
    "remove_tags", "submitter_id", "due_at", "collaborator_ids",
}  # fmt: skip
ZENDESK_USER_FIELDS = {"name", "email", "phone", "external_id", "role", "verified", "locale_id"}


def record_invalid(*problems: str) -> Answer:
    details = {"base": [{"description": p, "error": "InvalidValue"} for p in problems]}
    return (
        422,
        {"error": "RecordInvalid", "description": "Record validation errors", "details": details},
        {},
    )


class FakeZendesk(FakeHelpdesk):
    def __init__(self, email: str, token: str) -> None:
        super().__init__()
        self.email = email
        self.token = token
        self.tickets: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self._next_id = 100

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def handle(self, seen: Seen) -> Answer:
        if self.basic_auth(seen) != (f"{self.email}/token", self.token):
            return 401, {"error": "Couldn't authenticate you"}, {}
        if seen.headers.get("accept") != "application/json":
            self.violation(f"{seen.path}: Accept must be application/json")
        body: Any = None
        if seen.method in ("POST", "PUT"):
            if not seen.headers.get("content-type", "").startswith("application/json"):
                self.violation(f"{seen.path}: Content-Type must be application/json")
                return 400, None, {}
            try:
                body = seen.json()
            except ValueError:
                return 400, {"error": "Unprocessable JSON"}, {}
        route = (seen.method, seen.path)
        if route == ("POST", "/api/v2/users/create_or_update.json"):
            return self._user(body)
        if route == ("POST", "/api/v2/tickets.json"):
            return self._create(body)
        if route == ("GET", "/api/v2/tickets.json"):
            wanted = seen.query.get("external_id", [None])[0]
            found = [t for t in self.tickets.values() if t["external_id"] == wanted]
            return 200, {"tickets": found, "next_page": None, "previous_page": None,
                         "count": len(found)}, {}  # fmt: skip
        if seen.method == "PUT" and seen.path.startswith("/api/v2/tickets/"):
            return self._update(seen.path, body)
        self.violation(f"unknown endpoint {route}")
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}

    def _user(self, body: Any) -> Answer:
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            self.violation(f"user: body must be {{'user': {{…}}}}: {body!r}")
            return 400, {"error": "InvalidParameter"}, {}
        unknown = set(user) - ZENDESK_USER_FIELDS
        if unknown or not isinstance(user.get("name"), str) or not user["name"]:
            self.violation(f"user: unknown fields {unknown} or no name: {user}")
            return record_invalid("Name: is too short (minimum one character)")
        if user.get("role", "end-user") not in ("end-user", "agent", "admin"):
            return record_invalid("Role: is invalid")
        for existing in self.users.values():
            if user.get("external_id") and existing["external_id"] == user.get("external_id"):
                existing.update(user)
                return 200, {"user": existing}, {}
        new = {"id": self._id(), "url": "", "created_at": "2026-01-01T00:00:00Z", **user}
        new.setdefault("external_id", None)
        self.users[new["id"]] = new
        return 201, {"user": new}, {}

    def _create(self, body: Any) -> Answer:
        ticket = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(ticket, dict):
            self.violation(f"ticket: body must be {{'ticket': {{…}}}}: {body!r}")
            return 400, {"error": "InvalidParameter"}, {}
        problems = self._check_ticket(ticket)
        comment: dict[str, Any] = ticket.get("comment") or {}
        if not isinstance(comment, dict) or not isinstance(comment.get("body"), str):
            problems.append("Comment: cannot be blank")
        if ticket.get("requester_id") not in self.users:
            problems.append("Requester: is invalid")
        if problems:
            self.violation(f"ticket create: {problems}")
            return record_invalid(*problems)
        new = {
            "id": self._id(),
            "url": f"{self.url}/api/v2/tickets/x.json",
            "external_id": ticket.get("external_id"),
            "subject": ticket.get("subject"),
            "description": comment["body"],
            "priority": ticket.get("priority"),
            "status": "new",
            "requester_id": ticket["requester_id"],
            "tags": ticket.get("tags", []),
            "comments": [comment],
            "created_at": "2026-01-01T00:00:00Z",
        }
        self.tickets[new["id"]] = new
        location = {"location": f"{self.url}/api/v2/tickets/{new['id']}.json"}
        return 201, {"ticket": new, "audit": {"id": self._id(), "ticket_id": new["id"]}}, location

    def _update(self, path: str, body: Any) -> Answer:
        ident = path.removeprefix("/api/v2/tickets/").removesuffix(".json")
        if not ident.isdigit() or not path.endswith(".json"):
            self.violation(f"bad ticket path {path}")
            return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}
        ticket = self.tickets.get(int(ident))
        if ticket is None:
            return 404, {"error": "RecordNotFound", "description": "Not found"}, {}
        change = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(change, dict):
            self.violation(f"update: body must be {{'ticket': {{…}}}}: {body!r}")
            return 400, {"error": "InvalidParameter"}, {}
        problems = self._check_ticket(change)
        if problems:
            self.violation(f"ticket update: {problems}")
            return record_invalid(*problems)
        if "comment" in change:
            ticket["comments"].append(change["comment"])
        for tag in change.get("additional_tags", []):
            if tag not in ticket["tags"]:
                ticket["tags"].append(tag)
        return 200, {"ticket": ticket, "audit": {"id": self._id(), "ticket_id": ticket["id"]}}, {}

    def _check_ticket(self, ticket: dict[str, Any]) -> list[str]:
        problems = [f"{k}: unknown field" for k in set(ticket) - ZENDESK_TICKET_FIELDS]
        if "priority" in ticket and ticket["priority"] not in ZENDESK_PRIORITIES:
            problems.append("Priority: is not valid")
        for name in ("tags", "additional_tags"):
            if name in ticket and not (
                isinstance(ticket[name], list) and all(isinstance(t, str) for t in ticket[name])
            ):
                problems.append(f"{name}: must be a list of strings")
        if "subject" in ticket and not isinstance(ticket["subject"], str):
            problems.append("Subject: must be a string")
        if "external_id" in ticket and not isinstance(ticket["external_id"], str):
            problems.append("External: must be a string")
        comment = ticket.get("comment")
        if comment is not None and (
            not isinstance(comment, dict)
            or set(comment) - {"body", "html_body", "public", "author_id"}
            or not isinstance(comment.get("public", True), bool)
        ):
            problems.append(f"Comment: invalid {comment!r}")
        return problems


# --- Freshdesk ----------------------------------------------------------------------------

FRESHDESK_FIELDS = {
    "name", "requester_id", "email", "facebook_id", "phone", "twitter_id",
    "unique_external_id", "subject", "type", "status", "priority", "description",
    "responder_id", "attachments", "cc_emails", "custom_fields", "due_by", "email_config_id",
    "fr_due_by", "group_id", "product_id", "source", "tags", "company_id",
}  # fmt: skip
FRESHDESK_SOURCES = (1, 2, 3, 5, 6, 7, 9, 10)


def validation_failed(*errors: tuple[str, str, str]) -> Answer:
    return (
        400,
        {
            "description": "Validation failed",
            "errors": [{"field": f, "message": m, "code": c} for f, m, c in errors],
        },
        {},
    )


@dataclass
class FreshdeskState:
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, int] = field(default_factory=dict)  # phone → contact id
    notes: list[dict[str, Any]] = field(default_factory=list)


class FakeFreshdesk(FakeHelpdesk):
    def __init__(self, api_key: str, custom_fields: tuple[str, ...] = ("cf_call_id",)) -> None:
        super().__init__()
        self.api_key = api_key
        self.custom_fields = custom_fields
        self.state = FreshdeskState()
        self._next_id = 1

    @property
    def tickets(self) -> dict[int, dict[str, Any]]:
        return self.state.tickets

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def handle(self, seen: Seen) -> Answer:
        if self.basic_auth(seen) != (self.api_key, "X"):
            return (
                401,
                {"code": "invalid_credentials",
                 "message": "You have to be logged in to perform this action."},
                {},
            )  # fmt: skip
        body: Any = None
        if seen.method in ("POST", "PUT"):
            if seen.headers.get("content-type") != "application/json":
                self.violation(f"{seen.path}: Content-Type must be application/json")
                message = "Content-Type header should have application/json"
                return 415, {"code": "invalid_content_type", "message": message}, {}
            try:
                body = seen.json()
            except ValueError:
                message = "Request body has invalid json format"
                return 400, {"code": "invalid_json", "message": message}, {}
        if (seen.method, seen.path) == ("POST", "/api/v2/tickets"):
            return self._create(body)
        if (seen.method, seen.path) == ("GET", "/api/v2/search/tickets"):
            return self._search(seen.query.get("query", [""])[0])
        if seen.method == "POST" and seen.path.endswith("/notes"):
            return self._note(seen.path, body)
        if seen.method == "PUT" and seen.path.startswith("/api/v2/tickets/"):
            return self._update(seen.path, body)
        self.violation(f"unknown endpoint {seen.method} {seen.path}")
        return 404, None, {}

    def _create(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return validation_failed(("", "It should be a JSON object", "datatype_mismatch"))
        errors: list[tuple[str, str, str]] = []
        for name in sorted(set(body) - FRESHDESK_FIELDS):
            errors.append((name, "Unexpected/invalid field in request", "invalid_field"))
        for name in ("subject", "description"):
            if not isinstance(body.get(name), str) or not body.get(name):
                errors.append((name, "It should be a/an String", "missing_field"))
        if not any(body.get(k) for k in ("requester_id", "email", "phone", "unique_external_id",
                                         "twitter_id", "facebook_id")):  # fmt: skip
            errors.append(("requester_id", "Please fill at least 1 of requester_id, phone, "
                           "email, twitter_id, facebook_id, unique_external_id fields",
                           "missing_field"))  # fmt: skip
        if body.get("phone") and not body.get("email") and not body.get("name"):
            errors.append(("name", "It should be a/an String", "missing_field"))
        if body.get("priority", 1) not in (1, 2, 3, 4):
            errors.append(("priority", "It should be one of these values: '1,2,3,4'",
                           "invalid_value"))  # fmt: skip
        if body.get("status", 2) not in (2, 3, 4, 5):
            errors.append(("status", "It should be one of these values: '2,3,4,5'",
                           "invalid_value"))  # fmt: skip
        if body.get("source", 2) not in FRESHDESK_SOURCES:
            errors.append(("source", "It should be one of these values: '1,2,3,5,6,7,9,10'",
                           "invalid_value"))  # fmt: skip
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors.append(("tags", "It should be a/an Array", "datatype_mismatch"))
        custom = body.get("custom_fields", {})
        if not isinstance(custom, dict):
            errors.append(("custom_fields", "It should be a/an key/value pair",
                           "datatype_mismatch"))  # fmt: skip
        else:
            for name in sorted(set(custom) - set(self.custom_fields)):
                errors.append((name, "Unexpected/invalid field in request", "invalid_field"))
        if errors:
            self.violation(f"ticket create: {errors}")
            return validation_failed(*errors)
        phone = body.get("phone")
        requester = self.state.contacts.setdefault(phone, self._id()) if phone else 1
        ticket = {
            "id": self._id(),
            "subject": body["subject"],
            "description": body["description"],
            "description_text": body["description"],
            "priority": body.get("priority", 1),
            "status": body.get("status", 2),
            "source": body.get("source", 2),
            "requester_id": requester,
            "tags": tags,
            "custom_fields": custom,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        self.state.tickets[ticket["id"]] = ticket
        return 201, ticket, {"location": f"{self.url}/api/v2/tickets/{ticket['id']}"}

    def _search(self, query: str) -> Answer:
        if not (query.startswith('"') and query.endswith('"')):
            self.violation(f"search query must be wrapped in double quotes: {query!r}")
            return validation_failed(("query", "It should be wrapped in double quotes",
                                      "invalid_value"))  # fmt: skip
        name, _, value = query.strip('"').partition(":")
        if "cf_" + name not in self.custom_fields:
            return validation_failed((name, "Unexpected/invalid field in request",
                                      "invalid_field"))  # fmt: skip
        value = value.strip("'")
        found = [t for t in self.state.tickets.values()
                 if t["custom_fields"].get("cf_" + name) == value]  # fmt: skip
        return 200, {"results": found, "total": len(found)}, {}

    def _update(self, path: str, body: Any) -> Answer:
        ident = path.removeprefix("/api/v2/tickets/")
        if not ident.isdigit() or int(ident) not in self.state.tickets:
            return 404, None, {}
        if not isinstance(body, dict) or not body:
            return validation_failed(("", "It should be a JSON object", "datatype_mismatch"))
        errors = [
            (name, "Unexpected/invalid field in request", "invalid_field")
            for name in sorted(set(body) - FRESHDESK_FIELDS)
        ]
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors.append(("tags", "It should be a/an Array", "datatype_mismatch"))
        if errors:
            self.violation(f"ticket update: {errors}")
            return validation_failed(*errors)
        ticket = self.state.tickets[int(ident)]
        ticket.update(body)
        return 200, ticket, {}

    def _note(self, path: str, body: Any) -> Answer:
        ident = path.removeprefix("/api/v2/tickets/").removesuffix("/notes")
        if not ident.isdigit() or int(ident) not in self.state.tickets:
            return 404, None, {}
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return validation_failed(("body", "It should be a/an String", "missing_field"))
        unknown = set(body) - {"body", "private", "incoming", "notify_emails", "user_id"}
        if unknown or not isinstance(body.get("private", True), bool):
            self.violation(f"note: {body}")
            return validation_failed(*((u, "Unexpected/invalid field in request",
                                        "invalid_field") for u in unknown))  # fmt: skip
        note = {"id": self._id(), "ticket_id": int(ident), "body": body["body"],
                "body_text": body["body"], "private": body.get("private", True)}  # fmt: skip
        self.state.notes.append(note)
        return 201, note, {}
