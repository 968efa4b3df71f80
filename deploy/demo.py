"""`make demo`: a scripted journey through the running system (``make run``), step by step.

1. Is the system up (``GET /readyz``)?
2. A patient reads the privacy notice, signs up with an SMS code (read from the development SMS sink),
   registers their own record, sees the welcome SMS, records a resident ID, and sees who else looked at
   their record.
3. Staff: the first admin (created by the demo on an empty database and kept in ``var/demo-admin.json``)
   creates a consultant and a doctor; the consultant registers a patient during a phone call and verifies
   their identity document in person; a doctor without a care relationship is refused; the admin follows it
   all in the audit trail and checks its hash chains.
4. An online consultation (``deploy/demo_chat.py``): a visitor's chat offered (by the router, or on a busy desk by
   the team lead), accepted, followed live, its history and triage, the visitor renamed to a patient, closed and
   rated; a red flag answered at once.

Every request is printed (method, path, HTTP status, the interesting part of the answer) and carries an
``X-Request-ID`` of the form ``demo-<run>-<n>``, so ``grep -r demo-<run> var/log/`` follows the run across
services. The demo exits non-zero as soon as a step does not answer as expected.
"""
from __future__ import annotations

import base64
import json
import os
import random
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pyotp

from contracts.intake.documents import resident_id_check_char
from deploy.admin import DEMO_ADMIN_FILE, bootstrap
from deploy.client import CONSENT, Api, ApiError, Session, SmsInbox, activate_staff, sign_in_staff
from services.notify.settings import NotifySettings
from wenzhen.config import settings
from wenzhen.rpc_client import RemoteError, RpcError

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ADMIN_FILE = DEMO_ADMIN_FILE
ADMIN_USERNAME = "demo.admin"
REGIONS = ("110105", "310104", "440106", "510107", "330106")  # address codes: Beijing, Shanghai, Guangzhou, …
WELCOME_WAIT = 20.0  # seconds for the welcome SMS (an event away from the registration)
AUDIT_WAIT = 20.0  # seconds for a service's entry in the audit trail when it reacts to an event
INDENT = " " * 6


class StepFailed(Exception):
    """A step did not answer as expected; the message says what happened."""


# printing ------------------------------------------------------------------------------------------------------------
def heading(number: str, title: str) -> None:
    print(f"\n{number}. {title}")


def note(text: str) -> None:
    print(f"   · {text}")


def detail(*lines: str) -> None:
    for line in lines:
        print(INDENT + line)


def compact(value, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(patient: dict) -> str:
    """A patient record in one line."""
    identity = patient.get("identity")
    idn = f", identity {identity['document_type']} {identity['number']} {identity['status']}" if identity else ""
    return (f"{patient['id']}: {patient['name']}, {patient['sex']}, born {patient['birth_date']}, "
            f"phone {patient['phone']}{idn}")


# the HTTP steps ----------------------------------------------------------------------------------------------------
@dataclass
class Actor:
    """Someone calling the API: a label for the printout and, once signed in, their session."""

    label: str
    session: Session | None = None

    @property
    def account_id(self) -> str | None:
        return self.session.account_id if self.session else None


class Journey:
    def __init__(self, base: str, run: str):
        self.api = Api(base)
        self.run = run
        self.count = 0

    def request_id(self) -> str:
        self.count += 1
        return f"demo-{self.run}-{self.count:02d}"

    def as_(self, actor: Actor) -> Api:
        api = actor.session.as_user if actor.session else self.api
        return replace(api, request_id=self.request_id())

    def step(self, actor: Actor, method: str, path: str, body=None, expect: int = 200,
             show: Callable[[object], list[str] | str] | None = None):
        """One request: printed with its status; the answer's body unless the status is not ``expect``."""
        api = self.as_(actor)
        resp = api.send(method, path, body)
        print(f"   {actor.label:<10} {method:<6} {path}  →  {resp.status}   [{api.request_id}]")
        if resp.status != expect:
            problem = resp.body if isinstance(resp.body, dict) else {"body": resp.body}
            fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", []))
            retry = resp.headers.get("Retry-After")
            raise StepFailed(f"{method} {path} answered {resp.status}, expected {expect}: "
                             f"{problem.get('detail', compact(problem))}" + (f" ({fields})" if fields else "")
                             + (f"; retry after {retry}s" if retry else ""))
        if show:
            lines = show(resp.body)
            detail(*([lines] if isinstance(lines, str) else lines))
        return resp.body


def token_claims(access_token: str) -> dict:
    """The JWT's payload, unverified (for display: the gateway is the one that verifies it)."""
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def problem_line(body: dict) -> str:
    fields = "; ".join(f"{e['field']}: {e['message']}" for e in body.get("errors", []))
    return f"{body.get('title')}: {body.get('detail')}" + (f" — {fields}" if fields else "")


# real-name identity ------------------------------------------------------------------------------------------------
def resident_id(birth_date: date, sex: str, rng: random.Random) -> str:
    """A valid 18-character resident ID number (GB 11643) for someone born on ``birth_date``: a region code,
    the birth date, a sequence whose last digit is odd for men and even for women, the ISO 7064 check."""
    sequence = f"{rng.randrange(100):02d}{rng.choice('13579' if sex == 'male' else '02468')}"
    first17 = rng.choice(REGIONS) + birth_date.strftime("%Y%m%d") + sequence
    return first17 + resident_id_check_char(first17)


def mistyped(number: str) -> str:
    """The same number with one digit of the sequence changed: MOD 11-2 catches every single-digit slip."""
    return number[:14] + str((int(number[14]) + 1) % 10) + number[15:]


def random_birth_date(rng: random.Random, years: tuple[int, int]) -> date:
    return date(rng.randint(*years), rng.randint(1, 12), rng.randint(1, 28))


def random_mobile(rng: random.Random) -> str:
    return f"139{rng.randrange(100_000_000):08d}"


# 1. readiness ------------------------------------------------------------------------------------------------------
def readiness(journey: Journey) -> bool:
    heading("1", "Is the system up?")
    try:
        resp = journey.api.send("GET", "/readyz")
    except OSError as exc:
        print(f"   Wenzhen does not answer at {journey.api.base} ({exc.__class__.__name__}).\n"
              "   Start it with `make run` in another terminal, wait for “Wenzhen is up”, then run `make demo` again.")
        return False
    body = resp.body if isinstance(resp.body, dict) else {}
    services = body.get("services", {})
    up = [name for name, check in services.items() if check.get("state") == "up"]
    print(f"   {'anyone':<10} GET    /readyz  →  {resp.status}")
    detail(f"{body.get('status')}: {len(up)}/{len(services)} services up, broker "
           f"{body.get('broker', {}).get('state')}, database {body.get('database', {}).get('state')}")
    if resp.status != 200:
        down = ", ".join(sorted(set(services) - set(up))) or "?"
        print(f"   Not ready (down: {down}); see var/log/*.log, or wait a moment and try again.")
        return False
    return True


# 2. a patient ------------------------------------------------------------------------------------------------------
@dataclass
class PatientOutcome:
    phone: str
    account_id: str
    patient_id: str


def patient_journey(journey: Journey, inbox: SmsInbox, rng: random.Random) -> PatientOutcome:
    heading("2", "A patient signs up and registers")
    anyone = Actor("anyone")
    notice = journey.step(anyone, "GET", "/v1/privacy-notice",
                          show=lambda b: [f"{d['title']}  (version {d['version']})" for d in b["documents"]])
    consent = {d["document"]: d["version"] for d in notice["documents"]}
    if consent != CONSENT:
        note(f"the current versions differ from deploy.client's CONSENT {CONSENT}; accepting {consent}")

    phone = random_mobile(rng)
    seen = len(inbox.messages(phone))
    journey.step(anyone, "POST", "/v1/auth/otp", {"phone": phone, "purpose": "register"}, expect=202,
                 show=lambda b: f"{b['detail']} (valid {b['expires_in']} s)")
    try:
        code = inbox.wait_for_code(phone, seen)
    except TimeoutError as exc:
        raise StepFailed(f"{exc} ({inbox.path}); see var/log/identity.log and var/log/notify.log") from None
    note(f"the SMS sink ({inbox.path.relative_to(ROOT) if inbox.path.is_relative_to(ROOT) else inbox.path}) "
         f"has the code for {phone}: {code}")

    password = f"Demo-{secrets.token_urlsafe(9)}"
    patient = Actor("patient")
    tokens = journey.step(anyone, "POST", "/v1/auth/signup",
                          {"phone": phone, "code": code, "password": password, "consent": consent}, expect=201,
                          show=lambda b: f"account {b['account_id']}, role {b['role']}, access token for "
                                         f"{b['expires_in']} s, consents {consent} recorded")
    patient.session = Session(journey.api, tokens)

    born = random_birth_date(rng, (1960, 2000))
    registration = {"name": "王小明", "sex": "male", "birth_date": born.isoformat(), "phone": phone,
                    "relationship": "self"}
    record = journey.step(patient, "POST", "/v1/patients", registration, expect=201, show=shown)
    patient_id = record["id"]
    note(f"the access token does not list the record yet: pat = {token_claims(tokens['access_token']).get('pat')}")

    patient.session.tokens = journey.step(
        patient, "POST", "/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]},
        show=lambda b: f"new tokens; the access token now lists pat = {token_claims(b['access_token']).get('pat')}")
    if patient_id not in token_claims(patient.session.tokens["access_token"]).get("pat", []):
        raise StepFailed("the refreshed access token does not list the new record")
    journey.step(patient, "GET", f"/v1/patients/{patient_id}", show=shown)

    note("intake stored the record and its patient_registered event in one transaction; notify reacts with a "
         "welcome SMS…")
    notifications = wait_for_welcome(journey, patient, patient_id)
    detail(*(f"{n['created_at']}  {n['channel']}/{n['template']} ({n['status']}): {n['text']}"
             for n in notifications))

    number = resident_id(born, "male", rng)
    wrong = journey.step(patient, "PUT", f"/v1/patients/{patient_id}/identity-document",
                         {"document_type": "resident_id", "number": mistyped(number)}, expect=422, show=problem_line)
    if not any(e["field"] == "number" for e in wrong.get("errors", [])):
        raise StepFailed("the 422 for a mistyped number does not point at the number")
    journey.step(patient, "PUT", f"/v1/patients/{patient_id}/identity-document",
                 {"document_type": "resident_id", "number": number}, show=shown)
    note(f"the number ({number}, born {born}, odd sex digit = male) is stored encrypted and shown masked; "
         "a staff member still has to verify the document")

    log = journey.step(patient, "GET", f"/v1/patients/{patient_id}/access-log",
                       show=lambda b: [access_line(a) for a in b["items"]] or ["(empty)"])
    if not any(a["who"]["kind"] == "service" and a["what"] == "Patient" and a["action"] == "R" for a in log["items"]):
        raise StepFailed("the access log does not show the service that read the contact for the welcome SMS")
    if log.get("incomplete"):
        note(f"services that did not answer in time: {', '.join(log['incomplete'])}")

    journey.step(Actor("anyone"), "GET", f"/v1/patients/{patient_id}", expect=401,
                 show=lambda b: f"{b['detail']}")
    return PatientOutcome(phone, patient.account_id or "", patient_id)


def wait_for_welcome(journey: Journey, patient: Actor, patient_id: str) -> list[dict]:
    path = f"/v1/patients/{patient_id}/notifications"
    api = journey.as_(patient)
    deadline = time.monotonic() + WELCOME_WAIT
    polls = 0
    while True:
        polls += 1
        resp = api.send("GET", path)
        if resp.status == 200 and resp.body:
            break
        if resp.status != 200 or time.monotonic() > deadline:
            print(f"   {patient.label:<10} GET    {path}  →  {resp.status}   [{api.request_id}]")
            raise StepFailed(f"no welcome notification within {WELCOME_WAIT:.0f}s (last answer {resp.status}: "
                             f"{compact(resp.body)}); see var/log/notify.log and var/log/intake.log")
        time.sleep(0.2)
    print(f"   {patient.label:<10} GET    {path}  →  {resp.status}   [{api.request_id}, {polls} poll(s)]")
    return resp.body


def access_line(access: dict) -> str:
    who = access["who"]
    name = who.get("name") or ""
    person = " ".join(x for x in (who.get("role"), name, who.get("title"), who.get("department")) if x)
    return (f"{access['at'][11:23]}  {who['kind']:<7} {person:<28} {access['action']} {access['what']:<12} "
            f"purpose {access['purpose']:<7} {access['outcome']}")


# 3. staff ----------------------------------------------------------------------------------------------------------
def save_admin(data: dict) -> None:
    """Keep the demo admin's credentials (0600, written whole, then renamed into place)."""
    ADMIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = ADMIN_FILE.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump(data, out, indent=2)
        out.write("\n")
    os.replace(tmp, ADMIN_FILE)


def load_admin() -> dict | None:
    if not ADMIN_FILE.exists():
        return None
    try:
        return json.loads(ADMIN_FILE.read_text())
    except ValueError:
        raise StepFailed(f"{ADMIN_FILE} is not valid JSON; remove it (and start from an empty database) or fix "
                         "it") from None


def skip_staff(reason: str) -> None:
    print(f"   {reason}\n"
          "   The staff part needs an admin whose credentials the demo knows. Either let the demo create the first "
          "admin\n   on an empty database (`make stop; rm -rf var/db; make run`), or activate the admin made with "
          "`make admin`\n   and put its credentials in var/demo-admin.json (mode 0600):\n"
          '     {"username": "…", "password": "…", "totp_secret": "<base32 secret from the activation>"}\n'
          "   Skipping the staff part.")


def admin_session(journey: Journey) -> Session | None:
    """The demo admin, signed in: created and activated on the first run, signed in with TOTP afterwards;
    None (the staff part is skipped) when an admin exists that the demo does not know."""
    admin = load_admin()
    if admin and admin.get("totp_secret"):
        if pyotp.TOTP(admin["totp_secret"]).timecode(time.time()) <= (admin.get("last_step") or -1):
            note("the last run used this 30-second TOTP step's code (each code works once): waiting for the next")
        try:
            session = sign_in_staff(journey.api, admin["username"], admin["password"], admin["totp_secret"],
                                    admin.get("last_step"))
        except ApiError as exc:
            if exc.status != 401:
                raise StepFailed(f"signing in as {admin['username']}: {exc}") from None
            note(f"{admin['username']} from {ADMIN_FILE.name} cannot sign in ({exc}); a new database? "
                 "Creating the first admin again…")
        else:
            save_admin({**admin, "last_step": session.extra["last_step"]})
            print(f"   {'admin':<10} POST   /v1/auth/login, POST /v1/auth/mfa  →  200   "
                  f"(deploy.client.sign_in_staff: password, then a TOTP code)")
            detail(f"signed in as {admin['username']} ({session.account_id}) with the credentials in "
                   f"var/{ADMIN_FILE.name}")
            return session
        admin = None
    if admin is None or not admin.get("activation_code"):
        try:
            created = bootstrap(settings().amqp_uri, ADMIN_USERNAME, "演示管理员")
        except RemoteError as exc:
            problem = exc.exc_args[0] if exc.exc_args and isinstance(exc.exc_args[0], dict) else {}
            skip_staff(f"An admin exists already that this demo did not create ({problem.get('detail', exc.value)}).")
            return None
        except RpcError as exc:
            raise StepFailed(f"identity did not answer the admin bootstrap over RabbitMQ: {exc}") from None
        admin = {"username": created["username"], "account_id": created["id"],
                 "activation_code": created["activation_code"], "password": f"Demo-{secrets.token_urlsafe(12)}"}
        save_admin(admin)
        print(f"   {'demo':<10} RPC    identity.bootstrap_admin  →  account {created['id']} "
              f"({created['username']}) and its one-time activation code (what `make admin` does)")
    session = activate(journey, Actor("admin"), admin["username"], admin["activation_code"], admin["password"])
    save_admin({"username": admin["username"], "account_id": session.account_id, "password": admin["password"],
                "totp_secret": session.extra["totp_secret"], "last_step": session.extra["last_step"]})
    detail(f"credentials kept in var/{ADMIN_FILE.name} (0600) for the next runs")
    return session


def activate(journey: Journey, actor: Actor, username: str, code: str, password: str) -> Session:
    try:
        session = activate_staff(journey.api, username, code, password)
    except ApiError as exc:
        raise StepFailed(f"activating {username}: {exc}") from None
    print(f"   {actor.label:<10} POST   /v1/auth/activate, POST /v1/auth/mfa  →  200   "
          "(deploy.client.activate_staff: password set, TOTP enrolled, first code sent)")
    detail(f"{username} active, signed in ({session.account_id}, role {session.tokens['role']})")
    return session


def new_staff(journey: Journey, admin: Actor, label: str, account: dict) -> Actor:
    created = journey.step(admin, "POST", "/v1/staff", account, expect=201,
                           show=lambda b: f"{b['id']} {b['username']} ({b['role']}, {b['status']}), activation "
                                          f"code valid until {b['activation_expires_at']}")
    actor = Actor(label)
    actor.session = activate(journey, actor, created["username"], created["activation_code"],
                             f"Demo-{secrets.token_urlsafe(12)}")
    return actor


@dataclass
class StaffOutcome:
    patient_id: str
    audit_entries: int
    chains: int
    admin: Actor
    consultant: Actor


def staff_journey(journey: Journey, rng: random.Random) -> StaffOutcome | None:
    heading("3", "Staff: accounts, a registration by phone, real-name verification, the audit trail")
    session = admin_session(journey)
    if session is None:
        return None
    admin = Actor("admin", session)
    consultant = new_staff(journey, admin, "consultant", {
        "username": f"consultant.{journey.run}", "name": "周敏", "role": "consultant", "department": "outpatient"})
    doctor = new_staff(journey, admin, "doctor", {
        "username": f"doctor.{journey.run}", "name": "陈立", "role": "doctor", "department": "urology",
        "title": "主治医师", "licence_number": f"1101{rng.randrange(10**11):011d}"})

    note("a patient phones the hospital; the consultant registers her on her behalf (no relationship)")
    born = random_birth_date(rng, (1940, 1965))
    record = journey.step(consultant, "POST", "/v1/patients",
                          {"name": "李秀英", "sex": "female", "birth_date": born.isoformat(),
                           "phone": random_mobile(rng)}, expect=201, show=shown)
    patient_id = record["id"]
    journey.step(consultant, "PUT", f"/v1/patients/{patient_id}/identity-document",
                 {"document_type": "resident_id", "number": resident_id(born, "female", rng)}, show=shown)
    note("she comes to the desk with her ID card; the consultant checks it")
    verified = journey.step(consultant, "POST", f"/v1/patients/{patient_id}/identity-verification",
                            {"method": "in_person"}, show=shown)
    if (verified.get("identity") or {}).get("status") != "verified":
        raise StepFailed("the identity is not shown as verified")

    note("a doctor with no care relationship to her tries to open her record")
    journey.step(doctor, "GET", f"/v1/patients/{patient_id}", expect=404, show=lambda b: b["detail"])

    note("notify reads her contact for the welcome SMS an event after the registration: the admin waits for it")
    wait_for_audit(journey, admin, patient_id, "notify", "read")
    names = {admin.account_id: "admin", consultant.account_id: "consultant", doctor.account_id: "doctor"}
    items, incomplete = audit_trail(journey, admin, patient_id, names)
    seen = {(e["agent"].get("id"), e["subtype"], e["outcome"]) for e in items}
    expected = {(consultant.account_id, "create", "success"): "the consultant's registration",
                (consultant.account_id, "identity-document", "success"): "the consultant's recording of the document",
                (consultant.account_id, "verify-identity", "success"): "the consultant's verification",
                (doctor.account_id, "read", "denied"): "the doctor's refused read",
                ("notify", "read", "success"): "notify's read of the contact for the welcome SMS"}
    missing = [what for key, what in expected.items() if key not in seen]
    if missing:
        why = f" (services that did not answer in time: {', '.join(incomplete)})" if incomplete else ""
        raise StepFailed(f"the audit trail does not show {', '.join(missing)}{why}")

    chains = journey.step(admin, "GET", "/v1/audit-chain",
                          show=lambda b: [chain_line(v) for v in b])
    broken = [v["service"] for v in chains if not v["intact"]]
    if broken:
        raise StepFailed(f"audit chains not intact: {', '.join(broken)}")
    return StaffOutcome(patient_id, sum(e["subtype"] != "search" for e in items), len(chains), admin, consultant)


def wait_for_audit(journey: Journey, admin: Actor, patient_id: str, agent_id: str, subtype: str) -> int:
    """Wait until the audit trail holds ``agent_id``'s ``subtype`` entry about the patient (a service reacting to an
    event: on a busy system that takes a while). Polls one narrow search (this patient, this agent), which does not
    grow with the system's other traffic; returns the number of polls."""
    path = f"/v1/audit-events?patient_id={patient_id}&agent_id={agent_id}&limit=20"
    api = journey.as_(admin)
    deadline = time.monotonic() + AUDIT_WAIT
    polls = 0
    while True:
        polls += 1
        resp = api.send("GET", path)
        if resp.status == 200 and any(e["subtype"] == subtype for e in resp.body["items"]):
            break
        if resp.status != 200 or time.monotonic() > deadline:
            print(f"   {admin.label:<10} GET    {path}  →  {resp.status}   [{api.request_id}]")
            late = (f"; services that did not answer in time: {', '.join(resp.body['incomplete'])}"
                    if resp.status == 200 and resp.body.get("incomplete") else "")
            raise StepFailed(f"no {subtype} by {agent_id} of {patient_id} in the audit trail within {AUDIT_WAIT:.0f}s "
                             f"(last answer {resp.status}{late}); see var/log/{agent_id}.log")
        time.sleep(0.25)
    print(f"   {admin.label:<10} GET    {path}  →  {resp.status}   [{api.request_id}, {polls} poll(s)]")
    return polls


def audit_trail(journey: Journey, admin: Actor, patient_id: str, names: dict,
                page_size: int = 50, max_pages: int = 20) -> tuple[list[dict], list[str]]:
    """Everything the audit trail holds about the patient, newest first, page after page (``next_before``): the
    admin's own searches about her are entries too, so one page need not reach back to her registration."""
    items: list[dict] = []
    incomplete: set[str] = set()
    before = ""
    for _ in range(max_pages):
        page = journey.step(admin, "GET", f"/v1/audit-events?patient_id={patient_id}&limit={page_size}{before}")
        items += page["items"]
        incomplete.update(page.get("incomplete") or ())
        if not page.get("next_before"):
            break
        before = f"&before={page['next_before']}"
    detail(*audit_lines(items, names))
    if incomplete:
        note(f"services that did not answer in time: {', '.join(sorted(incomplete))}")
    return items, sorted(incomplete)


def audit_lines(items: list[dict], names: dict) -> list[str]:
    """Oldest first; the entries every service records about the search itself are folded into one line."""
    lines, searches = [], {}
    for entry in reversed(items):
        if entry["subtype"] == "search":
            request_id = entry["origin"].get("request_id")
            if request_id in searches:
                searches[request_id].append(entry["service"])
                continue
            searches[request_id] = [entry["service"]]
        lines.append(entry)
    out = []
    for entry in lines:
        agent = entry["agent"]
        if agent["kind"] == "user":
            who = names.get(agent.get("id")) or f"{agent.get('role')} {agent.get('id')}"
        else:
            who = f"{agent['kind']} {agent.get('id') or ''}".strip()
        services = searches.get(entry["origin"].get("request_id"), []) if entry["subtype"] == "search" else []
        where = f"{len(services)} services" if len(services) > 1 else entry["service"]
        out.append(f"{entry['recorded'][11:23]}  {where:<11} {who:<14} {entry['action']} {entry['subtype']:<17} "
                   f"{entry['entity']['type']:<12} {entry['outcome']:<7}  {entry['origin'].get('request_id') or ''}")
    return out or ["(empty)"]


def chain_line(verdict: dict) -> str:
    state = "intact" if verdict["intact"] else f"BROKEN at seq {verdict.get('broken_at')}: {verdict.get('reason')}"
    tail = f", {verdict['unsealed']} not yet sealed" if verdict.get("unsealed") else ""
    return f"{verdict['service']:<9} {verdict['entries']:>6} entries, head seq {verdict['head_seq']}: {state}{tail}"


# the whole ---------------------------------------------------------------------------------------------------------
def chat_journey(journey: Journey, admin: Actor):
    from deploy.demo_chat import chat_journey as run

    return run(journey, admin)


def records_journey(journey: Journey, admin: Actor, consultant: Actor, patient_id: str):
    from deploy.demo_records import records_journey as run

    return run(journey, admin, consultant, patient_id)


def pharmacy_journey(journey: Journey, admin: Actor, patient_id: str, prescription_id: str):
    from deploy.demo_pharmacy import pharmacy_journey as run

    return run(journey, admin, patient_id, prescription_id)


def main() -> int:
    cfg = settings()
    run = f"{time.strftime('%H%M%S')}{secrets.token_hex(2)}"
    journey = Journey(f"http://{cfg.gateway_host}:{cfg.gateway_port}", run)
    sink = NotifySettings.from_env().sms_sink_file  # where notify writes the SMS it sends in development
    inbox = SmsInbox(Path(sink) if sink else VAR / "sms.jsonl")
    rng = random.Random()
    print(f"Wenzhen demo at {journey.api.base}; request ids demo-{run}-NN")
    if not readiness(journey):
        return 1
    try:
        patient = patient_journey(journey, inbox, rng)
        staff = staff_journey(journey, rng)
        chat = chat_journey(journey, staff.admin) if staff else None
        records = records_journey(journey, staff.admin, staff.consultant, staff.patient_id) if staff else None
        medicine = (pharmacy_journey(journey, staff.admin, staff.patient_id, records.prescription_id) if records
                    else None)
    except StepFailed as exc:
        print(f"\n✗ {exc}\n  Follow the request in the logs: grep -r demo-{run} var/log/")
        return 1
    except ApiError as exc:
        print(f"\n✗ {exc}\n  Follow the request in the logs: grep -r demo-{run} var/log/")
        return 1

    print("\nSummary")
    print(f"   patient {patient.phone}: account {patient.account_id}, record {patient.patient_id} "
          "(signed up with an SMS code, welcome SMS, resident ID recorded, access log seen)")
    if staff:
        print(f"   staff: a consultant registered {staff.patient_id} and verified her ID in person; a doctor "
              "without care was refused (404);\n"
              f"   the admin saw who did what to her record ({staff.audit_entries} audit entries besides the search "
              f"itself); {staff.chains} hash chains intact")
    else:
        print("   staff part skipped (see above)")
    if chat:
        print(f"   chat {chat.consultation_id}: offered by the {chat.offered_by}, accepted, delivered live in "
              f"{chat.latency_ms:.0f} ms, history and triage taken, linked to {chat.patient_id}, closed and rated;\n"
              f"   red flag in {chat.urgent_id}: emergency advice in the same answer, shown to the team lead")
    if records:
        print(f"   visit {records.encounter_id}: a video follow-up, report signed, a sleeping pill refused online by "
              f"rule, prescription {records.prescription_id} approved by the pharmacist and in effect;\n"
              f"   results {records.result_id} from the laboratory's FHIR Bundle, released; the record as FHIR: "
              f"{records.fhir_entries} resources")
    if medicine:
        print(f"   order {medicine.order_id}: delivery chosen, {medicine.amount_fen / 100:.2f} yuan paid at the desk, "
              f"dispensed by lot, waybill {medicine.waybill} delivered by the sandbox courier;\n"
              f"   the prescription's path: {medicine.trace_steps} steps in one trace")
    print(f"\nNext: grep -r demo-{run} var/log/   # every request of this run, across the services\n"
          "      make audit-verify          # walk the audit hash chains offline")
    return 0


if __name__ == "__main__":
    # run as the module ``deploy.demo`` (not ``__main__``), so deploy.demo_chat shares its classes (StepFailed, …)
    import importlib

    sys.exit(importlib.import_module("deploy.demo").main())
