"""Hostile input for every operation (issue 10), read from the running gateway's OpenAPI document, so a new
operation is covered the day it is declared.

Every operation with a JSON body gets: a body that is not UTF-8, JSON nested 1,000 deep, a 2 MB string in every
string field (all at once: 413), lone surrogates (``\\ud800`` escapes) in every string field, and — one field at a time,
the rest of the body valid — a NUL, a right-to-left mark, a number beyond 64 bits (integers) and one of the MongoDB
operators ``{"$gt": ""}`` and ``{"$where": "1"}`` (both, where the field takes an object). Every operation with path
or query parameters gets the same hostile strings in each of them, URL-encoded (a 3,000-character one in place of
2 MB: gunicorn refuses a request line beyond 4 KiB itself, before the gateway sees it), and every query parameter
the ``name[$gt]=`` form too. The answer is a 4xx problem+json, or a 2xx where the input is legitimately accepted
(an RTL mark in a free-text field), never a 5xx; a NUL is refused everywhere; a hostile path parameter is never
found; nothing of an operator object comes back as stored, nor does an operator in a query match what it does not
name. A 503/504 is tried again alone at the end, so that only what a request on its own reproduces counts.

Each request is sent as a role the operation allows (the one with the fewest requests so far: each account has a
request budget of its own), aimed at that caller's own resources (their record, their chat, …), so that the hostile
field is the only thing wrong and reaches the service. The shift table and the rule table, which every other test
shares, are put back as they were.
"""
from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import pytest
import requests
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st

from tests.integration.conftest import new_origin, new_phone
from tests.integration.test_access_matrix import PNG

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
OPERATORS = {"$gt": {"$gt": ""}, "$where": {"$where": "1"}}
TEXTS = {"NUL": "a\u0000b", "RTL mark": "\u200f测试"}  # one string field at a time
SURROGATE = "\ud800"
HUGE = "x" * (2 * 1024 * 1024)
URL_VALUES = {  # path and query parameters, URL-encoded as a client would send them
    "lone surrogate": "%ED%A0%80",  # what a lone surrogate becomes in (WTF-8) bytes: not UTF-8
    "NUL": "%00", "RTL mark": quote("\u200f"),
    "long": "x" * 3000,  # the request line stays under gunicorn's 4 KiB (beyond it gunicorn answers 414 itself)
    "$gt": quote('{"$gt": ""}'), "$where": quote('{"$where": "1"}'),
    "huge number": "1" + "0" * 25,  # beyond the 64-bit integers a database stores
}
HUGE_INT = 10**25
ROLES = ("patient", "consultant", "team_lead", "manager", "doctor", "pharmacist", "lab", "finance", "admin")
STAFF = {"consultant": "consultant", "team_lead": "team_lead", "manager": "manager", "doctor": "doctor",
         "pharmacist": "pharmacist", "lab": "lab", "finance": "finance", "admin": "admin",
         "spare": "consultant"}  # account -> role (the spare one for the admin to act on)
THREADS = 6


@dataclass
class Probe:
    operation: str  # "METHOD /path"
    what: str
    method: str
    url: str
    role: str
    body: bytes | None = None
    content_type: str = "application/json"
    expect_4xx: bool = False  # a 2xx is wrong (a hostile id or an undecodable body is never fine)
    operator: bool = False  # an operator object was sent: a 2xx must not echo it as stored
    query_value: tuple[tuple, str] | None = None  # an operator string in these query parameters: all a listing matches
    headers: dict = field(default_factory=dict)


@dataclass
class World:
    tokens: dict[str, str]
    path: dict[str, dict[str, str]]  # role -> path parameter -> that caller's own resource
    aimed: dict[str, dict[str, str]]  # operation -> path parameters of its own (a chat to transfer, to close)
    bodies: dict[str, object]  # operation -> a valid body where the document's sample is not one
    shared: dict[str, object]  # the shift and rule tables as they were, to put back


def build_world(stack) -> World:
    stack.admin()  # once, before the accounts below are made side by side
    with ThreadPoolExecutor(4) as pool:
        making = pool.submit(stack.patient)
        staff = dict(zip(STAFF, pool.map(stack.staff, STAFF.values()), strict=True))
        spare = staff.pop("spare").account_id
        patient = making.result()
        made = [pool.submit(make, patient, staff) for make in (own_chat, desk_chats, catalogue_entries)]
        (chat_id, file, complaint), (calls, desk_file, registered), (department, article) = (m.result() for m in made)
    desk, manager, doctor = staff["consultant"].as_user, staff["manager"].as_user, staff["doctor"].account_id
    tokens = {"patient": patient.session.tokens["access_token"],
              **{role: s.tokens["access_token"] for role, s in staff.items()}}
    none = {"appointment_id": "apt_none", "entry_id": "wl_none", "document": "privacy_notice"}
    path = {
        "patient": {**none, "patient_id": patient.id, "consultation_id": chat_id,
                    "attachment_id": file["attachment"]["id"], "complaint_id": complaint["id"]},
        "consultant": {**none, "patient_id": registered, "consultation_id": calls[0],
                       "attachment_id": desk_file["attachment"]["id"], "account_id": staff["consultant"].account_id,
                       "table": "triage"},
        "team_lead": {**none, "consultant_id": staff["consultant"].account_id, "complaint_id": complaint["id"],
                      "account_id": staff["team_lead"].account_id, "table": "triage"},
        "manager": {**none, "article_id": article["id"], "code": department, "doctor_id": doctor, "table": "triage",
                    "complaint_id": complaint["id"], "account_id": staff["manager"].account_id},
        "doctor": {**none, "doctor_id": doctor, "account_id": doctor},
        "pharmacist": {**none, "account_id": staff["pharmacist"].account_id},
        "lab": {**none, "account_id": staff["lab"].account_id},
        "finance": {**none, "account_id": staff["finance"].account_id},
        "admin": {**none, "account_id": spare},
        "anonymous": {**none, "doctor_id": doctor},
    }
    aimed = {"POST /v1/consultations/{consultation_id}/transfer": {"consultation_id": calls[1]},
             "POST /v1/consultations/{consultation_id}/close": {"consultation_id": calls[2]}}
    shifts = desk.get("/v1/desk/shifts")
    rules = manager.get("/v1/rule-tables/triage")["rules"]
    person = {"name": "恶意测试", "sex": "female", "birth_date": "1990-03-04", "phone": new_phone()}
    bodies = {
        "PUT /v1/desk/shifts": {"shifts": shifts},
        "PUT /v1/rule-tables/{table}": {"rules": rules, "note": "恶意输入测试"},
        "POST /v1/consultations/{consultation_id}/messages": {"text": "恶意输入测试的消息"},
        "POST /v1/patients": {**person, "relationship": "parent"},
        "POST /v1/staff": {"username": f"hostile.{int(time.time() * 1000) % 10**9}", "name": "恶意",
                           "role": "consultant", "department": "urology"},
        "POST /v1/complaints": {"patient_id": patient.id, "about": "consultation", "reference": chat_id,
                                "text": "恶意输入测试：回复太慢了。"},
        "PUT /v1/knowledge/{article_id}": {"kind": "care_tip", "title": "恶意输入护理", "body": "坚持锻炼。",
                                           "revision": article["revision"]},
    }
    return World(tokens, path, aimed, bodies, {"shifts": shifts, "rules": rules})


def own_chat(patient, staff) -> tuple:
    chat = patient.api.post("/v1/consultations", {"message": "恶意输入测试", "patient_id": patient.id})
    chat_id = chat["consultation"]["id"]
    file = patient.api.post(f"/v1/consultations/{chat_id}/attachments?name=h.png", PNG)["items"][0]
    complaint = patient.api.post("/v1/complaints", {"patient_id": patient.id, "about": "consultation",
                                                    "reference": chat_id, "text": "恶意输入测试：回复太慢。"})
    return chat_id, file, complaint


def desk_chats(patient, staff) -> tuple:
    desk = staff["consultant"].as_user
    calls = [desk.post("/v1/consultations", {"message": "恶意输入测试电话", "channel": "phone"})["consultation"]["id"]
             for _ in range(3)]  # one to stay on, one to transfer, one to close
    desk_file = desk.post(f"/v1/consultations/{calls[0]}/attachments?name=h.png", PNG)["items"][0]
    registered = desk.post("/v1/patients", {"name": "恶意测试", "sex": "female", "birth_date": "1990-03-04",
                                            "phone": new_phone()})["id"]
    return calls, desk_file, registered


def catalogue_entries(patient, staff) -> tuple:
    manager = staff["manager"].as_user
    department = manager.post("/v1/departments", {"code": f"hostile_{int(time.time() * 1000) % 10**9}",
                                                  "name_zh": "测试科", "name_en": "Hostile"})["code"]
    article = manager.post("/v1/knowledge", {"kind": "care_tip", "title": "恶意输入护理", "condition": "鼻炎",
                                             "body": "坚持锻炼。"})
    manager.post("/v1/doctors", {"doctor_id": staff["doctor"].account_id, "display_name": "恶意医生",
                                 "department": department, "title": "主治医师", "fee_level": "普通号", "fee_fen": 1000,
                                 "licence_number": "LIC-HOSTILE-1", "services": ["first_visit"]})
    return department, article


# the document -----------------------------------------------------------------------------------------------------
class Schemas:
    def __init__(self, doc: dict):
        self.components = doc["components"]["schemas"]

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        options = [s for s in schema.get("anyOf", schema.get("oneOf", [])) if s.get("type") != "null"]
        return self.resolve(options[0]) if options else schema

    def sample(self, schema: dict, depth: int = 0):
        """A small valid instance (required fields only), deterministic."""
        schema = self.resolve(schema)
        if "examples" in schema:
            return copy.deepcopy(schema["examples"][0])
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object":
            props = schema.get("properties", {})
            return {name: self.sample(props[name], depth + 1) for name in schema.get("required", []) if name in props}
        if kind == "array":
            return [self.sample(schema.get("items", {}), depth + 1) for _ in range(schema.get("minItems", 0))]
        if kind == "integer":
            return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
        if kind == "number":
            return schema.get("minimum", 1)
        if kind == "boolean":
            return False
        if kind == "string":
            return self.text(schema)
        return None

    @staticmethod
    def text(schema: dict) -> str:
        fmt = schema.get("format")
        if fmt == "date":
            return "2030-01-02"
        if fmt == "date-time":
            return "2030-01-02T09:00:00+08:00"
        if fmt == "time":
            return "09:00:00"
        if "pattern" in schema:
            return smallest_match(schema["pattern"])
        return "测" * max(1, schema.get("minLength", 1))

    def fields(self, schema: dict, path: tuple = (), depth: int = 0):
        """(path, schema) of every field: object properties, the first item of arrays, three levels deep."""
        schema = self.resolve(schema)
        if depth > 3:
            return
        if schema.get("type") == "object":
            for name, prop in schema.get("properties", {}).items():
                yield (*path, name), self.resolve(prop)
                yield from self.fields(prop, (*path, name), depth + 1)
        elif schema.get("type") == "array":
            yield from self.fields(schema.get("items", {}), (*path, 0), depth + 1)


def is_free_text(schema: dict) -> bool:
    return schema.get("type") == "string" and not {"enum", "const", "format", "pattern"} & set(schema)


_matches: dict[str, str] = {}


def smallest_match(pattern: str) -> str:
    if pattern not in _matches:
        _matches[pattern] = find(st.from_regex(pattern, fullmatch=True), lambda _: True,
                                 settings=settings(database=None, suppress_health_check=list(HealthCheck)))
    return _matches[pattern]


def put(body, path: tuple, value, schemas: Schemas, schema: dict):
    """``body`` with the field at ``path`` set to ``value`` (the objects and arrays on the way made if missing)."""
    body = copy.deepcopy(body)
    node, spec = body, schemas.resolve(schema)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        child = spec["items"] if isinstance(part, int) else spec.get("properties", {}).get(part, {})
        child = schemas.resolve(child)
        if isinstance(part, int):
            while len(node) <= part:
                node.append(schemas.sample(child))
        elif part not in node and not last:
            node[part] = schemas.sample(child) if child.get("type") in ("object", "array") else {}
        if last:
            node[part] = value
        else:
            node = node[part]
        spec = child
    return body


def every_string(body, value: str):
    if isinstance(body, dict):
        return {k: every_string(v, value) for k, v in body.items()}
    if isinstance(body, list):
        return [every_string(v, value) for v in body]
    return value if isinstance(body, str) else body


def all_fields_filled(schemas: Schemas, schema: dict, base):
    """The base body with every string property present (so 'every string field' means every one)."""
    body = base
    for path, spec in schemas.fields(schema):
        if spec.get("type") == "string" and len(path) == 1 and isinstance(body, dict) and path[0] not in body:
            body = put(body, path, "x", schemas, schema)
    return body


# the probes -------------------------------------------------------------------------------------------------------
def probes(doc: dict, world: World) -> list[Probe]:
    """Each operation's probes, sent as the allowed role with the fewest so far (each account has its own request
    budget), among those with resources of their own for the operation's path."""
    schemas = Schemas(doc)
    load: Counter = Counter()
    found = []
    for template, methods in doc["paths"].items():
        for method, op in methods.items():
            names = [p["name"] for p in op["parameters"] if p["in"] == "path"]
            allowed = ["anonymous"] if op["x-roles"] == "public" else [r for r in ROLES if r in op["x-roles"]]
            aimed = [r for r in allowed if all(name in world.path[r] for name in names)] or allowed
            role = min(aimed, key=lambda r: load[r])
            made = operation_probes(template, method.upper(), op, role, world, schemas)
            load[role] += len(made)
            found += made
    return found


def operation_probes(template: str, method: str, op: dict, role: str, world: World, schemas: Schemas) -> list:
    label = f"{method} {template}"
    own = {**world.path[role], **world.aimed.get(label, {})}
    params = [p for p in op["parameters"] if p["in"] in ("path", "query")]
    names = [p["name"] for p in params if p["in"] == "path"]
    found: list[Probe] = []

    def url(path_values: dict, query: str = "") -> str:
        out = template
        for name in names:
            out = out.replace(f"{{{name}}}", path_values.get(name, quote(own.get(name, "none"), safe="")))
        return out + (f"?{query}" if query else "")

    def probe(what: str, target: str, **kw) -> None:
        found.append(Probe(label, what, method, target, role, **kw))

    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    base = world.bodies.get(label, schemas.sample(schema)) if schema else None
    valid = dumps(base) if schema else PNG if content else None  # so that only the parameter is wrong
    for name in names:
        for what, value in URL_VALUES.items():
            probe(f"path {name}: {what}", url({name: value}), expect_4xx=True, body=valid,
                  content_type="application/json" if schema else "application/octet-stream")
    # a query parameter that takes any text gets each hostile string together with the others that do (none of them
    # refuses it before the service sees it); one with a type, format or pattern of its own, one at a time
    query = [p for p in params if p["in"] == "query"]
    free = tuple(p["name"] for p in query if is_free_text(schemas.resolve(p["schema"])))
    groups = [free] * bool(free) + [(p["name"],) for p in query if p["name"] not in free]
    for group in groups:
        for what, value in URL_VALUES.items():
            if what == "long":  # shared by the group, within gunicorn's 4 KiB request line
                value = value[:len(value) // len(group)]
            operator = (group, unquote(value)) if what in OPERATORS else None
            probe(f"query {', '.join(group)}: {what}", url({}, "&".join(f"{name}={value}" for name in group)),
                  query_value=operator, body=valid,
                  content_type="application/json" if schema else "application/octet-stream",
                  expect_4xx=what == "NUL")
    for prm in query:
        probe(f"query {prm['name']}[$gt]", url({}, f"{quote(prm['name'])}%5B%24gt%5D="), expect_4xx=True)
    if schema is None:
        return found
    here = url({})
    probe("body not UTF-8", here, body=b'{"text": "\xff\xfe\xfd"}', expect_4xx=True)
    probe("body 1,000 deep", here, body=b"[" * 1000 + b"]" * 1000, expect_4xx=True)
    filled = all_fields_filled(schemas, schema, base)
    if every_string(filled, "") != filled:  # it has string fields
        probe("2 MB in every string field", here, body=json.dumps(every_string(filled, HUGE)).encode(),
              expect_4xx=True)
        probe("lone surrogate in every string field", here,
              body=json.dumps(every_string(filled, SURROGATE)).encode(), expect_4xx=True)
    turn = 0
    for path, spec in schemas.fields(schema):
        where = ".".join(map(str, path))
        if spec.get("type") == "string":
            for what, value in TEXTS.items():
                probe(f"{where}: {what}", here, body=dumps(put(base, path, value, schemas, schema)),
                      expect_4xx=what == "NUL")
        if spec.get("type") == "integer":
            probe(f"{where}: huge number", here, body=dumps(put(base, path, HUGE_INT, schemas, schema)))
        # every operator where the field's own rules decide (a dict, or any value); otherwise one, in turn
        free = spec.get("type") in ("object", None) and "properties" not in spec
        for what in OPERATORS if free else [list(OPERATORS)[turn := (turn + 1) % 2]]:
            probe(f"{where}: {what}", here, body=dumps(put(base, path, OPERATORS[what], schemas, schema)),
                  operator=True)
    if isinstance(base, dict):  # an operator as a field name of the body itself
        probe("body key $where", here, body=dumps({**base, "$where": "1"}), operator=True)
    return found


def dumps(body) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


# checking the answers ---------------------------------------------------------------------------------------------
def keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


def items(body) -> list:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return body["items"]
    return []


def judge(probe: Probe, resp: requests.Response) -> str | None:
    """What is wrong with the answer, or None."""
    status = resp.status_code
    kind = resp.headers.get("Content-Type", "").split(";")[0]
    if status >= 500:
        return f"server error {status}: {resp.text[:200]}"
    if 400 <= status < 500:
        if probe.operation.split(" ", 1)[1].startswith("/fhir"):  # the FHIR interface: an OperationOutcome
            ok = kind == FHIR_JSON and resp.json().get("resourceType") == "OperationOutcome"
            return None if ok else f"{status} is not an OperationOutcome ({kind})"
        return None if kind == PROBLEM_JSON else f"{status} is not problem+json ({kind})"
    if probe.expect_4xx:
        return f"accepted with {status}: {resp.text[:200]}"
    try:
        body = resp.json() if resp.content else None
    except ValueError:
        return None  # a file or a page, not data
    if probe.operator and any(isinstance(k, str) and k.startswith("$") for k in keys(body)):
        return f"an operator came back as stored ({status}): {resp.text[:200]}"
    if probe.query_value:
        names, value = probe.query_value
        matched = [item for item in items(body) if isinstance(item, dict)
                   and any(name in item and item[name] != value for name in names)]
        if matched:
            return f"the filter {'/'.join(names)}=<operator> matched {len(matched)} other item(s)"
    return None


def send(http: requests.Session, base: str, probe: Probe, token: str | None) -> requests.Response:
    headers = {"X-Forwarded-For": new_origin(), **probe.headers}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if probe.body is not None:
        headers["Content-Type"] = probe.content_type
    with http.request(probe.method, base + probe.url, data=probe.body, headers=headers, timeout=30,
                      stream=probe.url.split("?")[0].endswith("/stream")) as resp:
        resp.content  # noqa: B018 - read it whole (a stream answer, were there one, ends at the timeout)
        return resp


def restore(stack, world: World) -> None:
    """The shared tables as they were before."""
    manager = {"Authorization": f"Bearer {world.tokens['manager']}"}
    for path, body in (("/v1/desk/shifts", {"shifts": world.shared["shifts"]}),
                       ("/v1/rule-tables/triage", {"rules": world.shared["rules"], "note": "恶意输入测试之后复原"})):
        resp = stack.http.put(stack.url + path, json=body, headers={**manager, "X-Forwarded-For": new_origin()})
        assert resp.status_code in (200, 201), f"could not restore {path}: {resp.status_code} {resp.text}"


@pytest.fixture(scope="module")
def world(stack):
    world = build_world(stack)
    yield world
    restore(stack, world)


def test_every_operation_refuses_hostile_input_with_a_4xx_and_stores_no_operator(stack, world):
    started = time.monotonic()
    doc = stack.http.get(stack.url + "/openapi.json").json()
    planned = probes(doc, world)
    # the Last-Event-ID a browser sends back when it reconnects a stream (no such chat: the answer comes at once)
    planned += [Probe("GET /v1/consultations/{consultation_id}/stream", f"Last-Event-ID {value!r}", "GET",
                      "/v1/consultations/con_none/stream", "patient", expect_4xx=True,
                      headers={"Last-Event-ID": value}) for value in ("²", "9" * 40, "-1", "1e3")]
    by_operation: dict[str, list[Probe]] = {}
    for probe in planned:
        by_operation.setdefault(probe.operation, []).append(probe)
    # round the operations, so that the slow ones (the audit search asks every service) are spread over the run
    planned = [probe for batch in itertools.zip_longest(*by_operation.values()) for probe in batch if probe]
    failures: list[str] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    local = threading.local()

    deferred: list[Probe] = []

    def attempt(probe: Probe, alone: bool = False) -> None:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        try:
            resp = send(local.http, stack.url, probe, world.tokens.get(probe.role))
        except requests.ConnectionError:  # a kept-alive connection the server had just closed: once more, afresh
            local.http = requests.Session()
            try:
                resp = send(local.http, stack.url, probe, world.tokens.get(probe.role))
            except requests.RequestException as exc:
                with lock:
                    failures.append(f"{probe.operation} [{probe.what}] as {probe.role}: no answer ({exc})")
                return
        if resp.status_code in (503, 504) and not alone:  # busy or too slow: again later, on its own
            with lock:
                deferred.append(probe)
            return
        wrong = judge(probe, resp)
        with lock:
            statuses[resp.status_code] += 1
            if wrong:
                failures.append(f"{probe.operation} [{probe.what}] as {probe.role}: {wrong}")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(attempt, planned))
    for probe in deferred:  # so that only what a request on its own reproduces counts
        attempt(probe, alone=True)
    operations = {p.operation for p in planned}
    report = (f"hostile input: {len(planned) + len(deferred):,} requests over {len(operations)} operations in "
              f"{time.monotonic() - started:.0f}s ({len(deferred)} sent again alone after a 503/504), "
              f"{len(failures)} wrong (statuses "
              f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})")
    print(f"\n{report}")
    assert not failures, report + "\n" + "\n".join(sorted(failures))
    inputs = {f"{method.upper()} {path}" for path, methods in doc["paths"].items() for method, op in methods.items()
              if "requestBody" in op or any(p["in"] in ("path", "query") for p in op["parameters"])}
    assert operations == inputs  # every operation with a body or parameters


# the defects it found, one by one -----------------------------------------------------------------------------------
def call(stack, world: World, role: str, method: str, path: str, body=None, headers=None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {world.tokens[role]}", "X-Forwarded-For": new_origin(), **(headers or {})}
    return stack.http.request(method, stack.url + path, json=body, headers=headers, timeout=30, **kw)


def test_a_nul_is_refused_in_any_text_a_body_or_query_carries(stack, world):
    chat = world.path["consultant"]["consultation_id"]
    resp = call(stack, world, "consultant", "POST", f"/v1/consultations/{chat}/example",
                {"example": "satisfied", "title": "鼻炎\u0000复诊"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "title", resp.text
    resp = call(stack, world, "consultant", "GET", "/v1/knowledge?q=%E9%BC%BB%00")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "q", resp.text


def test_a_seq_beyond_any_chat_is_a_422_and_a_resumed_stream_ignores_an_id_it_never_sent(stack, world):
    chat = world.path["consultant"]["consultation_id"]
    resp = call(stack, world, "consultant", "GET", f"/v1/consultations/{chat}/messages?after={10**20}")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "after", resp.text
    # "²" is a digit to str.isdigit, not to int(); ignored, the answer is the chat's own (no such chat: at once)
    resp = call(stack, world, "patient", "GET", "/v1/consultations/con_none/stream", headers={"Last-Event-ID": "²"})
    assert resp.status_code == 404, resp.text


def test_a_roster_entry_is_only_for_what_can_be_an_account(stack, world):
    # the shifts on the desk now (other tests change the table; a roster names existing shifts only)
    codes = [s["code"] for s in call(stack, world, "team_lead", "GET", "/v1/desk/shifts").json()]
    body = {"max_chats": 3, "shifts": codes}
    for junk in ('{"$gt": ""}', "x" * 300, "acc_test"):
        resp = call(stack, world, "team_lead", "PUT", f"/v1/desk/roster/{quote(junk, safe='')}", body)
        assert resp.status_code == 404, f"{junk[:20]}: {resp.status_code} {resp.text}"
    consultant = world.path["team_lead"]["consultant_id"]
    assert call(stack, world, "team_lead", "PUT", f"/v1/desk/roster/{consultant}", body).status_code == 200


def test_a_shared_file_name_cannot_hide_its_kind_behind_a_bidi_override(stack, world):
    chat, spoof = world.path["patient"]["consultation_id"], quote("photo\u202egnp.exe")  # shows as photoexe.png
    resp = call(stack, world, "patient", "POST", f"/v1/consultations/{chat}/attachments?name={spoof}", data=PNG)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "name", resp.text
