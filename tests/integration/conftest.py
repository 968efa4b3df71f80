"""Integration fixtures: the real RabbitMQ and a real MongoDB-wire server,
isolated per run (an own vhost, an own SecantusDB data directory or database
prefix, own ports) and removed afterwards.

``AMQP_URI`` / ``MONGO_URI`` point the tests at other servers; with
``MONGO_URI`` set the run's databases are dropped at the end.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

import pytest
import requests
from pymongo import MongoClient

from deploy import broker
from deploy.admin import bootstrap
from deploy.client import Api, Session, SmsInbox, activate_staff, sign_up_patient
from deploy.stack import Stack, free_port
from wenzhen.auth import PRINCIPAL_KEY, Principal, Role
from wenzhen.config import SERVICES, Settings, settings
from wenzhen.crypto import Keyring
from wenzhen.rpc_client import RpcClient
from wenzhen.storage import Store, ensure_indexes
from wenzhen.timez import hospital_zone

RUN = uuid.uuid4().hex[:8]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class TestStack(Stack):
    """A Stack plus what the tests need to look inside it."""

    __test__ = False

    def __init__(self, env: dict[str, str], var: Path):
        super().__init__(env, var, say=lambda *_: None)
        self.rpc = RpcClient(self.cfg.amqp_uri, timeout=10, name="tests")
        self.http = requests.Session()
        self.keys = Keyring.from_env(self.env)
        self.inbox = SmsInbox(Path(self.env["SMS_SINK_FILE"]))
        self._admin: Session | None = None

    @property
    def cfg(self) -> Settings:
        return self.settings

    @cached_property
    def mongo(self) -> MongoClient:
        return MongoClient(self.cfg.mongo_uri, tz_aware=True)

    @property
    def url(self) -> str:
        return self.gateway_url()

    def db(self, service: str):
        return self.mongo[self.cfg.database_name(service)]

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def replace_service(self, name: str, extra_env: dict[str, str], label: str):
        """Stop the regular ``name`` and start a variant (fault injection) under ``label``."""
        self.stop(name)
        proc = self.start_service(name, extra_env, label=label)
        self.wait_service(name)
        return proc

    def restore_service(self, name: str, label: str | None = None) -> None:
        if label:
            self.stop(label)
        if name not in self.procs:
            self.start_service(name)
        self.wait_service(name)

    def wait_service(self, name: str) -> None:
        def answers():
            try:
                return self.rpc.call(name, "health", timeout=2)["status"] == "up"
            except Exception:  # noqa: BLE001 - still starting
                return False

        wait_until(answers, timeout=30, interval=0.3, what=f"{name} to answer")

    # callers -------------------------------------------------------------------------------------------------
    def api(self, token: str | None = None) -> Api:
        """A caller from its own origin address (the test gateway trusts one proxy), so per-origin rate limits
        count each test's caller apart."""
        return Api(self.url, token=token, origin=new_origin())

    def headers(self, token: str) -> dict:
        return {"Authorization": f"Bearer {token}", "X-Forwarded-For": new_origin()}

    def sign_up(self, phone: str | None = None, password: str = "quiet-harbour-17") -> Session:
        """A patient account (phone confirmed by the code from the SMS sink), signed in."""
        return sign_up_patient(self.api(), self.inbox, phone or new_phone(), password)

    def patient(self, **fields) -> PatientUser:
        """A signed-up patient with their own record, and a token that lists it."""
        session = self.sign_up(fields.pop("phone", None))
        body = {"name": "测试患者", "sex": "female", "birth_date": "1990-03-04",
                "phone": session.extra["phone"], "relationship": "self", **fields}
        record = session.as_user.post("/v1/patients", body)
        session.refresh()
        return PatientUser(session, record)

    def admin(self) -> Session:
        """The first admin of this run's stack (bootstrapped once, then its session is reused)."""
        if self._admin is None:
            created = bootstrap(self.cfg.amqp_uri, "admin", "测试管理员")
            self._admin = activate_staff(self.api(), "admin", created["activation_code"], "guardian-of-keys-42")
        return self._admin

    def staff(self, role: str, **fields) -> Session:
        """A fresh, activated staff account of ``role``, signed in (TOTP enrolled)."""
        username = f"{role.replace('_', '')}.{next(_usernames)}"
        body = {"username": username, "name": f"测试{role}", "role": role, "department": "urology", **fields}
        if Role(role) in (Role.doctor, Role.pharmacist):
            body.update({"title": "主治医师", "licence_number": f"LIC{next(_usernames):08d}"})
        created = self.admin().as_user.post("/v1/staff", body)
        return activate_staff(self.api(), username, created["activation_code"], "steady-lantern-88")

    def register(self, phone: str | None = None, **fields) -> dict:
        """A patient record registered by a consultant on the patient's behalf (through intake's RPC, as the
        gateway would call it), for tests about what follows a registration."""
        body = {"name": "测试患者", "sex": "female", "birth_date": "1990-03-04", "phone": phone or new_phone(),
                **fields}
        return self.rpc.call("intake", "register_patient", body, context=consultant_context())

    def visit(self, doctor: Session | None = None, patient: PatientUser | None = None,
              patient_id: str | None = None) -> dict:
        """A doctor with a clinic of their own (department, room, profile, a schedule tomorrow) and a patient with a
        confirmed first visit with them (``patient_id``: a relative's record the patient books for), once records
        has heard of the booking."""
        manager = self.staff("manager")
        doctor = doctor or self.staff("doctor")
        patient = patient or self.patient()
        wait_until(lambda: self.db("booking")["staff_accounts"].find_one({"_id": doctor.account_id}), timeout=30,
                   what="booking to hear of the doctor's account")
        department, room = f"uro_{uuid.uuid4().hex[:8]}", f"r_{uuid.uuid4().hex[:8]}"
        m = manager.as_user
        m.post("/v1/departments", {"code": department, "name_zh": "泌尿外科", "name_en": "Urology"})
        m.post("/v1/rooms", {"code": room, "name": "门诊楼3层12诊室", "department": department})
        m.post("/v1/doctors", {"doctor_id": doctor.account_id, "display_name": "李明", "department": department,
                               "title": "主任医师", "fee_level": "主任医师号", "fee_fen": 5000,
                               "licence_number": "110440000012345", "services": ["first_visit", "follow_up"]})
        day = datetime.now(hospital_zone()).date() + timedelta(days=1)
        m.call("PUT", f"/v1/doctors/{doctor.account_id}/schedule",
               {"sessions": [{"weekday": day.isoweekday(), "start": "08:00", "end": "12:00", "service": "first_visit",
                              "room": room}]})
        slots = wait_until(lambda: patient.api.get(
            f"/v1/doctors/{doctor.account_id}/slots?from={day}&to={day}&service=first_visit"), what="the slots")
        booked = patient.api.post("/v1/appointments", {"patient_id": patient_id or patient.id,
                                                       "slot_id": slots[0]["id"]})
        wait_until(lambda: self.db("records")["appointments"].find_one({"_id": booked["id"], "kind": "visit"}),
                   timeout=30, what="records to hear of the booking")
        wait_until(lambda: self.db("intake")["care_relations"].find_one({"ref": booked["id"]}), timeout=30,
                   what="intake to grant the doctor care from the booking")
        return {"doctor": doctor, "patient": patient, "appointment": booked}

    def patient_by_phone(self, phone: str) -> dict | None:
        return self.db("intake")["patients"].find_one({"phone_index": self.keys.blind_index("phone", phone)})

    def notifications(self, patient_id: str) -> list[dict]:
        return list(self.db("notify")["notifications"].find({"patient_id": patient_id}))


class PatientUser:
    """A patient account, its own record, and an API client acting with its token."""

    def __init__(self, session: Session, record: dict):
        self.session = session
        self.record = record

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def api(self) -> Api:
        return self.session.as_user


_phones = iter(range(1, 10**8))
_origins = iter(range(1, 10**6))
_usernames = iter(range(1, 10**6))


def new_phone() -> str:
    """A fresh mobile number (each run has its own databases, so a counter is enough)."""
    return f"139{next(_phones):08d}"


def new_origin() -> str:
    n = next(_origins)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def consultant_context(account_id: str = "acc_test_consultant") -> dict:
    """RPC context data of a consultant, as the gateway sends it after verifying a token."""
    return {PRINCIPAL_KEY: Principal.user(account_id, Role.consultant, department="urology").to_context()}


@pytest.fixture(scope="session")
def amqp_uri():
    base = settings().amqp_uri
    broker.ensure(base)
    vhost = f"wenzhen-test-{RUN}"
    uri = broker.create_vhost(base, vhost)
    yield uri
    broker.delete_vhost(vhost)


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory):
    """A MongoDB-wire server of its own for the mechanics' tests (no broker, no services): MONGO_URI when set,
    else a SecantusDB started for this run."""
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    var = tmp_path_factory.mktemp("mechanics")
    server = Stack({}, var, say=lambda *_: None)
    yield server.start_database(free_port(), var / "db")
    server.stop_all()


@pytest.fixture
def db_store(database_uri):
    """A fresh database (the mechanics' indexes created) as a service's :class:`wenzhen.storage.Store`; dropped
    afterwards."""
    client = MongoClient(database_uri, tz_aware=True)
    db = client[f"m{RUN}_{uuid.uuid4().hex[:8]}"]
    ensure_indexes(db, [])
    yield Store(db, name="mechanics")
    client.drop_database(db.name)
    client.close()


def by_id(collection) -> dict:
    """A collection's documents by ``_id`` (what the tests look at)."""
    return {doc["_id"]: doc for doc in collection.find({})}


@pytest.fixture(scope="session")
def stack(amqp_uri, tmp_path_factory):
    var = tmp_path_factory.mktemp("stack")
    env = {
        "AMQP_URI": amqp_uri,
        "WENZHEN_DB_PREFIX": f"t{RUN}_",
        "GATEWAY_PORT": str(free_port()),
        "COURIER_SANDBOX_PORT": str(free_port()),  # the sandbox courier (deploy/sandbox_courier.py)
        "GATEWAY_WORKERS": "1",
        "GATEWAY_THREADS": "16",
        "OUTBOX_POLL_INTERVAL": "0.2",
        "OUTBOX_LEASE_SECONDS": "2",
        "HANDLER_RETRY_BASE_SECONDS": "0.05",
        "LOG_LEVEL": "INFO",
        "GATEWAY_TRUSTED_PROXIES": "1",  # tests speak from many origins (X-Forwarded-For)
        "ACCESS_TOKEN_TTL_SECONDS": "3600",
        "AUDIT_CHECKPOINT_SECONDS": "1",
        "OTP_RESEND_SECONDS": "3",  # one code per number per 3 s instead of a minute, so tests need not wait
        # the desk's clocks, shortened so breaches happen within a test (the rules are unit-tested to the second)
        "CONSULT_ACCEPT_SECONDS": "8",
        "CONSULT_ANSWER_SECONDS": "6",
        "CONSULT_UNATTENDED_SECONDS": "12",
        "DESK_POLL_INTERVAL": "0.2",
    }
    external_mongo = os.environ.get("MONGO_URI")
    s = TestStack(env, var)
    s.start_system(None if external_mongo else (free_port(), var / "db"), ready_timeout=120)
    yield s
    s.rpc.close()
    s.stop_all()
    if external_mongo:
        for name in SERVICES:
            s.mongo.drop_database(s.cfg.database_name(name))
    s.mongo.close()
