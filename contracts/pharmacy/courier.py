"""The courier's wire contract, shaped as SF Express's open platform (丰桥, ``POST /std/service``), and the route
pushes the courier sends us. Pure (stdlib and pydantic): the pharmacy's client and the sandbox courier
(``deploy/sandbox_courier.py``) both speak it, so they cannot drift apart. See docs/courier.md.

A request is a form (``partnerID``, ``requestID``, ``serviceCode``, ``timestamp``, ``msgDigest``, ``msgData``); the
answer JSON (``apiResultCode`` and ``apiResultData``, a JSON string with ``success``/``errorCode``/``msgData``). A
push is JSON with the same signature over its ``msgData`` (``{"WaybillRoute": [...]}``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SERVICE_PATH = "/std/service"  # the courier's one endpoint; the service code says what is asked
COURIER_ZONE = ZoneInfo("Asia/Shanghai")  # the courier's times are local wall-clock strings in this zone
ACCEPT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ServiceCode(StrEnum):
    create_order = "EXP_RECE_CREATE_ORDER"
    search_order = "EXP_RECE_SEARCH_ORDER_RESP"
    search_routes = "EXP_RECE_SEARCH_ROUTES"


# apiResultCode: the platform's verdict on the request itself (before the business looks at it)
API_OK = "A1000"
API_MISSING_FIELD = "A1001"
API_DIGEST_FAILED = "A1002"
API_NO_ACCESS = "A1004"  # unknown partner, or a service code it may not call
API_BUSY = "A1099"
TRANSIENT_API_CODES = frozenset({API_BUSY})  # every other A10xx is permanent: retrying the same request won't help

# errorCode inside apiResultData: the business verdict
BIZ_OK = "S0000"
BIZ_DUPLICATE_ORDER = "8016"  # the orderId exists already: ask for its waybill (what makes retries idempotent)
BIZ_UNKNOWN_ORDER = "8018"  # the sandbox's code for "no such orderId"
BIZ_INVALID = "1010"  # the sandbox's code for missing or invalid order content

# the answer to a push
PUSH_OK = "0000"
PUSH_MALFORMED = "1000"

EXPRESS_STANDARD = 1  # expressTypeId of the standard express product
EXPRESS_COLD_CHAIN = 53  # ours for the cold-chain product; a real account's product list may give another id
WAYBILL_MAIN = 1  # waybillType of the main (parent) waybill


def _java_url_encode(text: str) -> str:
    """``URLEncoder.encode(text, "UTF-8")`` as Java does it (what SF's SDK signs): space as ``+``, ``*`` kept,
    ``~`` escaped. Python's ``quote_plus`` differs on exactly those two characters."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """SF's msgDigest: ``base64(md5(urlencode(msgData + timestamp + checkWord)))`` (丰桥's published definition and
    its known answer, tested). MD5 is theirs, not a choice: the check word never travels, only this."""
    signed = _java_url_encode(f"{msg_data}{timestamp}{check_word}").encode("ascii")
    return base64.b64encode(hashlib.md5(signed).digest()).decode("ascii")


def verify_digest(msg_data: str, timestamp: str, check_word: str, digest: object) -> bool:
    """Whether ``digest`` signs ``msg_data`` + ``timestamp``; in constant time (no timing oracle for forgers)."""
    if not all(isinstance(v, str) for v in (msg_data, timestamp, digest)):
        return False
    expected = msg_digest(msg_data, timestamp, check_word).encode("ascii")
    return hmac.compare_digest(expected, digest.encode("utf-8", "surrogatepass"))


def dumps(data: Mapping[str, Any]) -> str:
    """msgData as sent: compact, UTF-8 text (the digest is over these exact characters)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def request_form(partner_id: str, request_id: str, service_code: str, msg_data: Mapping[str, Any], check_word: str,
                 now_ms: int) -> dict[str, str]:
    """The signed form of one request to ``/std/service``."""
    data, timestamp = dumps(msg_data), str(now_ms)
    return {"partnerID": partner_id, "requestID": request_id, "serviceCode": str(service_code),
            "timestamp": timestamp, "msgDigest": msg_digest(data, timestamp, check_word), "msgData": data}


# answers ------------------------------------------------------------------------------------------------------------
class BusinessResult(BaseModel):
    """apiResultData: what the courier's business said."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)
    success: bool
    error_code: str | None = Field(None, alias="errorCode")
    error_msg: str | None = Field(None, alias="errorMsg")
    msg_data: dict[str, Any] | None = Field(None, alias="msgData")


class ApiAnswer(BaseModel):
    """The courier's answer to a request: the platform's code, and the business result when the platform let it
    through."""

    api_result_code: str
    api_error_msg: str = ""
    api_response_id: str = ""
    result: BusinessResult | None = None

    @classmethod
    def parse(cls, body: object) -> ApiAnswer:
        """Raises ValueError for anything that is not an answer of this shape."""
        if not isinstance(body, dict) or not isinstance(body.get("apiResultCode"), str):
            raise ValueError("not a courier answer (no apiResultCode)")
        raw = body.get("apiResultData")
        result = None
        if raw not in (None, ""):
            try:
                result = BusinessResult.model_validate(json.loads(raw) if isinstance(raw, str) else raw)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"malformed apiResultData ({type(exc).__name__})") from None
        return cls(api_result_code=body["apiResultCode"], api_error_msg=str(body.get("apiErrorMsg") or ""),
                   api_response_id=str(body.get("apiResponseID") or ""), result=result)


def api_answer(result_code: str, response_id: str, error_msg: str = "",
               result: BusinessResult | None = None) -> dict[str, Any]:
    """The answer body a courier sends (the sandbox's, and what the client parses)."""
    return {"apiResultCode": result_code, "apiErrorMsg": error_msg, "apiResponseID": response_id,
            "apiResultData": dumps(result.model_dump(by_alias=True)) if result else None}


def business_ok(msg_data: Mapping[str, Any]) -> BusinessResult:
    return BusinessResult(success=True, error_code=BIZ_OK, msg_data=dict(msg_data))


def business_error(code: str, message: str) -> BusinessResult:
    return BusinessResult(success=False, error_code=code, error_msg=message)


def main_waybill(msg_data: Mapping[str, Any] | None) -> str | None:
    """The main waybill number in an order's ``waybillNoInfoList`` (create and search answers), if assigned yet."""
    for info in (msg_data or {}).get("waybillNoInfoList") or ():
        if isinstance(info, dict) and str(info.get("waybillType")) == str(WAYBILL_MAIN) and info.get("waybillNo"):
            return str(info["waybillNo"])
    return None


# orders ---------------------------------------------------------------------------------------------------------------
class Contact(BaseModel):
    """A sender or recipient. Personal data: kept out of reprs (so out of logs), never in an exception."""

    name: str = Field(min_length=1, max_length=100, repr=False)
    phone: str = Field(min_length=5, max_length=20, repr=False)
    address: str = Field(min_length=1, max_length=200, repr=False)
    city: str = Field(min_length=1, max_length=50)


class ShipmentRequest(BaseModel):
    """One parcel to ship. ``order_id`` is ours and unique per partner: the courier refuses a second order with it
    (8016), which is what makes a retried create safe."""

    order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    cargo: str = Field(min_length=1, max_length=100, description="What the parcel holds, e.g. 药品")
    cold_chain: bool = False
    sender: Contact
    recipient: Contact
    remark: str = Field("", max_length=100)

    @property
    def express_type(self) -> int:
        return EXPRESS_COLD_CHAIN if self.cold_chain else EXPRESS_STANDARD

    def msg_data(self) -> dict[str, Any]:
        """msgData of ``EXP_RECE_CREATE_ORDER`` (contactType 1 sends, 2 receives)."""
        def contact(kind: int, c: Contact) -> dict[str, Any]:
            return {"contactType": kind, "contact": c.name, "mobile": c.phone, "address": c.address, "city": c.city,
                    "country": "CN"}

        return {"language": "zh-CN", "orderId": self.order_id, "expressTypeId": self.express_type, "payMethod": 1,
                "cargoDetails": [{"name": self.cargo, "count": 1}],
                "contactInfoList": [contact(1, self.sender), contact(2, self.recipient)], "remark": self.remark}

    @classmethod
    def from_msg_data(cls, data: object) -> ShipmentRequest:
        """The courier's reading of a create request. Raises ValueError naming the bad fields, never their
        values (they are personal data)."""
        if not isinstance(data, dict):
            raise ValueError("msgData is not an object")
        contacts = {c.get("contactType"): c for c in data.get("contactInfoList") or () if isinstance(c, dict)}
        cargoes = data.get("cargoDetails")
        cargo = cargoes[0] if isinstance(cargoes, list) and cargoes else {}

        def contact(kind: int) -> dict[str, Any] | None:
            c = contacts.get(kind) or contacts.get(str(kind))
            return None if c is None else {"name": c.get("contact"), "phone": c.get("mobile") or c.get("tel"),
                                           "address": c.get("address"), "city": c.get("city")}

        fields = {"order_id": data.get("orderId"), "cargo": cargo.get("name") if isinstance(cargo, dict) else None,
                  "cold_chain": str(data.get("expressTypeId")) == str(EXPRESS_COLD_CHAIN),
                  "sender": contact(1), "recipient": contact(2), "remark": data.get("remark") or ""}
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise ValueError(f"invalid order: {_locations(exc)}") from None


def search_order_data(order_id: str) -> dict[str, Any]:
    """msgData of ``EXP_RECE_SEARCH_ORDER_RESP``: the order (and its waybill) by our orderId."""
    return {"language": "zh-CN", "orderId": order_id, "searchType": 1}


def search_routes_data(waybills: Sequence[str]) -> dict[str, Any]:
    """msgData of ``EXP_RECE_SEARCH_ROUTES``: the routes of waybill numbers (trackingType 1)."""
    return {"language": "0", "trackingType": 1, "trackingNumber": list(waybills), "methodType": 1}


# routes ---------------------------------------------------------------------------------------------------------------
class OpCode(StrEnum):
    """What happened to a parcel. ``rank`` orders the steps so a consumer can ignore one older than what it has
    (pushes arrive late, twice, out of order); 80 and 99 are terminal."""

    picked_up = "50"  # 收件
    in_transit = "30"  # 中转
    out_for_delivery = "44"  # 派件中
    delivery_failed = "33"  # 派件异常: another delivery attempt (44) may follow
    delivered = "80"  # 签收
    returned = "99"  # 退回

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def terminal(self) -> bool:
        return self in (OpCode.delivered, OpCode.returned)

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_RANKS = {OpCode.picked_up: 1, OpCode.in_transit: 2, OpCode.out_for_delivery: 3, OpCode.delivery_failed: 3,
          OpCode.delivered: 4, OpCode.returned: 4}
_MEANINGS = {OpCode.picked_up: "收件", OpCode.in_transit: "中转", OpCode.out_for_delivery: "派件中",
             OpCode.delivery_failed: "派件异常", OpCode.delivered: "签收", OpCode.returned: "退回"}
HAPPY_ROUTE = (OpCode.picked_up, OpCode.in_transit, OpCode.out_for_delivery, OpCode.delivered)


def parse_accept_time(value: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai (the courier's clock) as an aware UTC datetime."""
    return datetime.strptime(value, ACCEPT_TIME_FORMAT).replace(tzinfo=COURIER_ZONE).astimezone(UTC)


def format_accept_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no zone to convert from")
    return value.astimezone(COURIER_ZONE).strftime(ACCEPT_TIME_FORMAT)


class RouteEvent(BaseModel):
    """One step of a waybill's route, as pushed (``WaybillRoute`` item) or queried. ``id`` is unique per route
    event (deduplicate on it); ``accept_time`` is UTC."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, frozen=True)
    id: str = Field(min_length=1, max_length=64)
    mailno: str = Field(min_length=1, max_length=40)
    orderid: str | None = Field(None, max_length=64, description="Our orderId (a route query may not carry it)")
    accept_time: datetime = Field(alias="acceptTime")
    accept_address: str = Field("", alias="acceptAddress", max_length=200)
    remark: str = Field("", max_length=500)
    op_code: OpCode = Field(alias="opCode")

    @field_validator("id", "mailno", "orderid", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("op_code", mode="before")
    @classmethod
    def _code(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("accept_time", mode="before")
    @classmethod
    def _local(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_accept_time(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("a naive datetime is ambiguous")
            return value.astimezone(UTC)
        raise ValueError("acceptTime is not a 'YYYY-MM-DD HH:MM:SS' string")

    def to_wire(self) -> dict[str, str]:
        """The ``WaybillRoute`` item (acceptTime back in the courier's local time)."""
        return {"id": self.id, "mailno": self.mailno, "orderid": self.orderid or "",
                "acceptTime": format_accept_time(self.accept_time), "acceptAddress": self.accept_address,
                "remark": self.remark, "opCode": self.op_code.value}

    def supersedes(self, current: RouteEvent | None) -> bool:
        """Whether this step should replace ``current`` as the parcel's state: nothing after a terminal step; a
        higher rank wins; at equal rank (33 and 44 alternate) the later one."""
        if current is None:
            return True
        if current.op_code.terminal or self.id == current.id:
            return False
        if self.op_code.rank != current.op_code.rank:
            return self.op_code.rank > current.op_code.rank
        return self.accept_time > current.accept_time


def routes_from_answer(msg_data: Mapping[str, Any] | None, waybill: str) -> list[RouteEvent]:
    """The route of ``waybill`` in an ``EXP_RECE_SEARCH_ROUTES`` answer (``routeResps[].routes``), oldest first.
    A route without an id gets one derived from its content, so the same step queried twice has the same id."""
    events = []
    for resp in (msg_data or {}).get("routeResps") or ():
        if not isinstance(resp, dict) or str(resp.get("mailNo")) != waybill:
            continue
        for route in resp.get("routes") or ():
            if not isinstance(route, dict):
                raise ValueError("malformed route")
            item = {"mailno": waybill, **route}
            item.setdefault("id", f"{waybill}:{route.get('opCode')}:{route.get('acceptTime')}")
            try:
                events.append(RouteEvent.model_validate(item))
            except ValidationError as exc:
                raise ValueError(f"malformed route: {_locations(exc)}") from None
    return sorted(events, key=lambda e: e.accept_time)  # stable: the courier's order within one second


# pushes ---------------------------------------------------------------------------------------------------------------
def push_body(partner_id: str, request_id: str, events: Sequence[RouteEvent], check_word: str,
              now_ms: int) -> dict[str, str]:
    """A signed route push (the JSON body the courier POSTs to us)."""
    data, timestamp = dumps({"WaybillRoute": [e.to_wire() for e in events]}), str(now_ms)
    return {"partnerID": partner_id, "requestID": request_id, "timestamp": timestamp,
            "msgDigest": msg_digest(data, timestamp, check_word), "msgData": data}


def push_answer(ok: bool, message: str = "") -> dict[str, str]:
    """What we answer to a push: ``0000`` taken; ``1000`` malformed (the courier may retry or give up)."""
    return {"return_code": PUSH_OK, "return_msg": "成功"} if ok else {"return_code": PUSH_MALFORMED,
                                                                     "return_msg": message or "报文格式错误"}


class RoutePush(BaseModel):
    """A route push as received: the signed fields and the route events in ``msgData``. Parsing says nothing of
    who sent it: check ``verify`` (or ``CourierClient.verify_push``) before believing it."""

    partner_id: str
    request_id: str
    timestamp: str
    msg_digest: str
    msg_data: str
    events: list[RouteEvent]

    @classmethod
    def parse(cls, body: object) -> RoutePush:
        """Raises ValueError when the body is not a push of this shape (answer it ``1000``)."""
        if not isinstance(body, dict):
            raise ValueError("a push is a JSON object")
        names = {"partnerID": "partner_id", "requestID": "request_id", "timestamp": "timestamp",
                 "msgDigest": "msg_digest", "msgData": "msg_data"}
        fields = {}
        for wire, name in names.items():
            value = body.get(wire)
            if isinstance(value, int) and not isinstance(value, bool) and wire == "timestamp":
                value = str(value)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{wire} is missing or not a string")
            fields[name] = value
        try:
            data = json.loads(fields["msg_data"])
        except ValueError:
            raise ValueError("msgData is not JSON") from None
        routes = data.get("WaybillRoute") if isinstance(data, dict) else None
        if not isinstance(routes, list) or not routes:
            raise ValueError("msgData has no WaybillRoute list")
        events = []
        for i, route in enumerate(routes):
            if not isinstance(route, dict) or not route.get("orderid"):
                raise ValueError(f"WaybillRoute[{i}] is not a route of one of our orders")
            try:
                events.append(RouteEvent.model_validate(route))
            except ValidationError as exc:
                raise ValueError(f"WaybillRoute[{i}]: {_locations(exc)}") from None
        return cls(**fields, events=events)

    def verify(self, check_word: str) -> bool:
        return verify_digest(self.msg_data, self.timestamp, check_word, self.msg_digest)


def _locations(exc: ValidationError) -> str:
    """The fields a validation error names, without the values (which may be personal data)."""
    return ", ".join(sorted({".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors()}))


# the gateway's route for pushes: its request and answer (parsed again, and verified, by pharmacy) ---------------------
class CourierPush(BaseModel):
    """A route push (docs/courier.md): signed with the partner's check word over `msgData` and `timestamp`."""

    partnerID: Annotated[str, Field(min_length=1, max_length=64)]
    requestID: Annotated[str, Field(min_length=1, max_length=64)]
    timestamp: Annotated[str, Field(min_length=1, max_length=20)]
    msgDigest: Annotated[str, Field(min_length=1, max_length=100)]
    msgData: Annotated[str, Field(min_length=2, max_length=100_000)]


class CourierPushAnswer(BaseModel):
    return_code: str = Field(description="0000: received; 1000: not a push of this shape.")
    return_msg: str
