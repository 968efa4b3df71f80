"""A small client of Wenzhen's HTTP API for scripts: ``make demo``, the integration tests and the bench.

Standard library only (plus pyotp for staff codes). It knows the sign-in flows so
that no script re-implements them: a patient signs up with the code from the
development SMS sink, staff activate and sign in with TOTP.
"""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pyotp

CONSENT = {"privacy_notice": "2026-11-01", "sensitive_health_data": "2026-11-01"}


class ApiError(Exception):
    def __init__(self, method: str, path: str, status: int, body):
        detail = body.get("detail") if isinstance(body, dict) else body
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in body.get("errors", [])) if isinstance(
            body, dict) else ""
        super().__init__(f"{method} {path} → {status}: {detail}" + (f" ({fields})" if fields else ""))
        self.status = status
        self.body = body


@dataclass
class Response:
    status: int
    headers: Message  # case-insensitive: headers["Retry-After"]
    body: object


@dataclass
class Api:
    """One caller: a base URL, optionally a bearer token, an origin address (``X-Forwarded-For``, believed only
    when the gateway trusts a proxy) and a request id."""

    base: str
    token: str | None = None
    origin: str | None = None
    request_id: str | None = None
    timeout: float = 15.0

    def send(self, method: str, path: str, body=None, headers: dict | None = None) -> Response:
        raw = isinstance(body, bytes)  # a file (e.g. a photo shared in a chat), sent as it is
        data = body if raw else json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/octet-stream" if raw else "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if self.origin:
            req.add_header("X-Forwarded-For", self.origin)
        if self.request_id:
            req.add_header("X-Request-ID", self.request_id)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return Response(resp.status, resp.headers, _json(resp.read()))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.headers, _json(exc.read()))

    def call(self, method: str, path: str, body=None, expect: tuple[int, ...] = (200, 201, 202, 204)):
        resp = self.send(method, path, body)
        if resp.status not in expect:
            raise ApiError(method, path, resp.status, resp.body)
        return resp.body

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body=None):
        return self.call("POST", path, body)

    def with_token(self, token: str | None) -> Api:
        return Api(self.base, token, self.origin, self.request_id, self.timeout)


def _json(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


# the development SMS sink -------------------------------------------------------------------------------------------
@dataclass
class SmsInbox:
    """Reads the messages notify wrote to ``SMS_SINK_FILE``."""

    path: Path

    def messages(self, phone: str) -> list[dict]:
        if not self.path.exists():
            return []
        lines = (json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip())
        return [m for m in lines if m["to"] == phone]

    def wait_for_code(self, phone: str, seen: int, timeout: float = 20.0) -> str:
        """The code of the first message to ``phone`` beyond the ``seen`` ones already there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages(phone)[seen:]:
                found = re.search(r"验证码是(\d{6})", message["text"])
                if found:
                    return found.group(1)
            time.sleep(0.1)
        raise TimeoutError(f"no code reached the SMS sink for that number within {timeout:.0f}s")


# sessions ---------------------------------------------------------------------------------------------------------
@dataclass
class Session:
    api: Api
    tokens: dict
    extra: dict = field(default_factory=dict)

    @property
    def as_user(self) -> Api:
        return self.api.with_token(self.tokens["access_token"])

    @property
    def account_id(self) -> str:
        return self.tokens["account_id"]

    def refresh(self) -> Session:
        self.tokens = self.api.post("/v1/auth/refresh", {"refresh_token": self.tokens["refresh_token"]})
        return self


def code_for(phone: str, inbox: SmsInbox, api: Api, purpose: str) -> str:
    """Ask for a code (waiting out the per-number resend interval, as an app's countdown would) and read it."""
    seen = len(inbox.messages(phone))
    for _ in range(3):
        resp = api.send("POST", "/v1/auth/otp", {"phone": phone, "purpose": purpose})
        if resp.status != 429 or not resp.headers.get("Retry-After"):
            break
        time.sleep(int(resp.headers["Retry-After"]))
    if resp.status != 202:
        raise ApiError("POST", "/v1/auth/otp", resp.status, resp.body)
    return inbox.wait_for_code(phone, seen)


def sign_up_patient(api: Api, inbox: SmsInbox, phone: str, password: str) -> Session:
    code = code_for(phone, inbox, api, "register")
    tokens = api.post("/v1/auth/signup", {"phone": phone, "code": code, "password": password, "consent": CONSENT})
    return Session(api, tokens, {"phone": phone, "password": password})


def totp_code(secret: str, not_step: int | None = None) -> tuple[str, int]:
    """The current code and its 30-second step; waits for the next step when ``not_step`` was just used."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(time.time())
    if not_step is not None and step <= not_step:
        time.sleep(totp.interval - time.time() % totp.interval + 0.05)
        step = totp.timecode(time.time())
    return totp.generate_otp(step), step


def activate_staff(api: Api, username: str, activation_code: str, password: str) -> Session:
    challenge = api.post("/v1/auth/activate", {"username": username, "activation_code": activation_code,
                                               "password": password})
    secret = challenge["enrolment"]["secret"]
    code, step = totp_code(secret)
    tokens = api.post("/v1/auth/mfa", {"mfa_token": challenge["mfa_token"], "code": code})
    return Session(api, tokens, {"username": username, "password": password, "totp_secret": secret,
                                 "last_step": step})


def sign_in_staff(api: Api, username: str, password: str, totp_secret: str, last_step: int | None = None) -> Session:
    challenge = api.post("/v1/auth/login", {"login": username, "password": password})
    code, step = totp_code(totp_secret, not_step=last_step)
    tokens = api.post("/v1/auth/mfa", {"mfa_token": challenge["mfa_token"], "code": code})
    return Session(api, tokens, {"username": username, "password": password, "totp_secret": totp_secret,
                                 "last_step": step})
