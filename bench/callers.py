"""The bench's signed-in callers, made the way people are (deploy.client, through the gateway): a patient who
signed up with the code from the bench stack's SMS sink and registered their own record, and a consultant,
created and activated through the first admin (bootstrapped over RPC, as ``make admin`` does)."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from bench.isolated import BenchStack
from deploy.admin import bootstrap
from deploy.client import Api, SmsInbox, activate_staff, sign_up_patient

PATIENT_PHONE = "13000000000"
PATIENT = {"name": "压测患者", "sex": "female", "birth_date": "1990-03-04", "phone": PATIENT_PHONE,
           "relationship": "self"}


@dataclass(frozen=True)
class Callers:
    patient_id: str
    patient_token: str = field(repr=False)
    consultant_token: str = field(repr=False)
    patient_login: str = field(repr=False)  # the JSON body of POST /v1/auth/login for the patient
    admin_token: str = field(default="", repr=False)  # the first admin's, to create further staff (bench/booking.py)


def sign_in(stack: BenchStack) -> Callers:
    api = Api(stack.gateway_url())
    password = _password()
    patient = sign_up_patient(api, SmsInbox(Path(stack.env["SMS_SINK_FILE"])), PATIENT_PHONE, password)
    record = patient.as_user.post("/v1/patients", PATIENT)
    patient.refresh()  # the new token lists the record

    admin = bootstrap(stack.amqp_uri, "bench.admin", "压测管理员")
    admin_session = activate_staff(api, admin["username"], admin["activation_code"], _password())
    staff = admin_session.as_user.post("/v1/staff", {"username": "bench.consultant", "name": "压测咨询员",
                                                     "role": "consultant", "department": "outpatient"})
    consultant = activate_staff(api, staff["username"], staff["activation_code"], _password())
    return Callers(patient_id=record["id"], patient_token=patient.tokens["access_token"],
                   consultant_token=consultant.tokens["access_token"],
                   patient_login=json.dumps({"login": PATIENT_PHONE, "password": password}),
                   admin_token=admin_session.tokens["access_token"])


def _password() -> str:
    return f"Bench-{secrets.token_urlsafe(12)}"
