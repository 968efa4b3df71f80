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
from functools import cached_property
from pathlib import Path

import pytest
import requests
from pymongo import MongoClient

from deploy import broker
from deploy.stack import Stack, free_port
from wenzhen.config import SERVICES, Settings, settings
from wenzhen.crypto import Keyring
from wenzhen.rpc_client import RpcClient

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

    def register(self, phone: str | None = None, **fields) -> dict:
        body = {"name": "测试患者", "sex": "female", "birth_date": "1990-03-04", "phone": phone or new_phone(),
                **fields}
        resp = self.http.post(self.url + "/v1/patients", json=body, timeout=15)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def patient_by_phone(self, phone: str) -> dict | None:
        return self.db("intake")["patients"].find_one({"phone_index": self.keys.blind_index("phone", phone)})

    def notifications(self, patient_id: str) -> list[dict]:
        return list(self.db("notify")["notifications"].find({"patient_id": patient_id}))


_phones = iter(range(1, 10**8))


def new_phone() -> str:
    """A fresh mobile number (each run has its own databases, so a counter is enough)."""
    return f"139{next(_phones):08d}"


@pytest.fixture(scope="session")
def amqp_uri():
    base = settings().amqp_uri
    broker.ensure(base)
    vhost = f"wenzhen-test-{RUN}"
    uri = broker.create_vhost(base, vhost)
    yield uri
    broker.delete_vhost(vhost)


@pytest.fixture(scope="session")
def stack(amqp_uri, tmp_path_factory):
    var = tmp_path_factory.mktemp("stack")
    env = {
        "AMQP_URI": amqp_uri,
        "WENZHEN_DB_PREFIX": f"t{RUN}_",
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_THREADS": "8",
        "OUTBOX_POLL_INTERVAL": "0.2",
        "OUTBOX_LEASE_SECONDS": "2",
        "HANDLER_RETRY_BASE_SECONDS": "0.05",
        "LOG_LEVEL": "INFO",
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
