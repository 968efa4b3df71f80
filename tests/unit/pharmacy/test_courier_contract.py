"""The courier's wire contract (contracts/pharmacy/courier.py): SF's digest to its published known answer, verification
in constant time, pushes parsed strictly (and their errors free of personal data), and the route steps' order."""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from contracts.pharmacy import courier as wire
from contracts.pharmacy.courier import (
    ApiAnswer,
    OpCode,
    RouteEvent,
    RoutePush,
    ShipmentRequest,
    msg_digest,
    push_body,
    request_form,
    verify_digest,
)

# 丰桥's own example (its msgDigest documentation): this msgData, timestamp and check word sign to this digest
SF_MSG_DATA = '{"language":"zh-CN","orderId":"QIAO-20200618-004"}'
SF_TIMESTAMP = "12312334453453"
SF_CHECK_WORD = "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci"
SF_DIGEST = "IIKJtuLVzoFTu4kHI8M8vA=="
CHECK_WORD = "sandbox-check-word"


def test_the_digest_is_sfs_known_answer():
    assert msg_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD) == SF_DIGEST


def test_the_digest_url_encodes_as_java_does_before_hashing():
    # Java's URLEncoder: space as '+', '*' kept, '~' escaped (Python's quote_plus does neither of the last two)
    text = 'a b*~+/中"'
    java = "a+b*%7E%2B%2F%E4%B8%AD%22"
    assert wire._java_url_encode(text) == java
    expected = base64.b64encode(hashlib.md5((text + "1" + "w").encode()).digest()).decode()
    assert msg_digest(text, "1", "w") != expected  # the raw text is not what is hashed
    assert msg_digest(text, "1", "w") == base64.b64encode(hashlib.md5((java + "1w").encode()).digest()).decode()


def test_verify_accepts_the_right_digest_and_nothing_else():
    assert verify_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD, SF_DIGEST)
    assert not verify_digest(SF_MSG_DATA, SF_TIMESTAMP, "another-check-word", SF_DIGEST)
    assert not verify_digest(SF_MSG_DATA, "12312334453454", SF_CHECK_WORD, SF_DIGEST)  # the timestamp is signed
    assert not verify_digest(SF_MSG_DATA.replace("004", "005"), SF_TIMESTAMP, SF_CHECK_WORD, SF_DIGEST)
    assert not verify_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD, SF_DIGEST[:-2])
    assert not verify_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD, "")
    assert not verify_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD, None)
    assert not verify_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD, "签名")  # non-ASCII: False, no exception


def test_verify_compares_in_constant_time(monkeypatch):
    calls = []
    real = wire.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(wire.hmac, "compare_digest", spy)
    assert verify_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD, SF_DIGEST)
    assert not verify_digest(SF_MSG_DATA, SF_TIMESTAMP, SF_CHECK_WORD, "AAAAAAAAAAAAAAAAAAAAAA==")
    assert calls == [(SF_DIGEST.encode(), SF_DIGEST.encode()), (SF_DIGEST.encode(), b"AAAAAAAAAAAAAAAAAAAAAA==")]


def test_a_request_form_is_signed_over_its_msg_data_and_timestamp():
    form = request_form("WENZHEN_DEV", "req-1", wire.ServiceCode.search_order, {"orderId": "po-1", "备注": "冷链"},
                        CHECK_WORD, 1_700_000_000_123)
    assert set(form) == {"partnerID", "requestID", "serviceCode", "timestamp", "msgDigest", "msgData"}
    assert form["serviceCode"] == "EXP_RECE_SEARCH_ORDER_RESP" and form["timestamp"] == "1700000000123"
    assert form["msgData"] == '{"orderId":"po-1","备注":"冷链"}'  # compact UTF-8 text: exactly what is signed
    assert verify_digest(form["msgData"], form["timestamp"], CHECK_WORD, form["msgDigest"])
    assert all(isinstance(v, str) for v in form.values())


def event(op: str, at: str = "2024-03-01 08:00:00", route_id: str | None = None, **fields) -> RouteEvent:
    return RouteEvent.model_validate({"id": route_id or f"r{op}{at}", "mailno": "SF1234567890123", "orderid": "po-1",
                                      "acceptTime": at, "acceptAddress": "深圳市", "remark": "", "opCode": op,
                                      **fields})


def test_a_push_round_trips_and_its_times_are_utc():
    body = push_body("WENZHEN_DEV", "req-9", [event("50", "2024-03-01 08:00:00"), event("30", "2024-03-01 09:30:15")],
                     CHECK_WORD, 1_709_251_200_000)
    push = RoutePush.parse(json.loads(json.dumps(body)))
    assert (push.partner_id, push.request_id, push.timestamp) == ("WENZHEN_DEV", "req-9", "1709251200000")
    assert [e.op_code for e in push.events] == [OpCode.picked_up, OpCode.in_transit]
    assert push.events[0].accept_time == datetime(2024, 3, 1, 0, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert push.events[1].accept_time == datetime(2024, 3, 1, 1, 30, 15, tzinfo=UTC)
    assert push.events[0].to_wire()["acceptTime"] == "2024-03-01 08:00:00"
    assert json.loads(push.msg_data)["WaybillRoute"][1]["opCode"] == "30"
    assert push.verify(CHECK_WORD)
    assert not push.verify("not-our-check-word")


def test_a_push_signed_with_another_word_or_altered_does_not_verify():
    body = push_body("WENZHEN_DEV", "req-9", [event("80")], "forger", 1_709_251_200_000)
    assert not RoutePush.parse(body).verify(CHECK_WORD)
    honest = push_body("WENZHEN_DEV", "req-9", [event("44")], CHECK_WORD, 1_709_251_200_000)
    altered = {**honest, "msgData": honest["msgData"].replace('"opCode":"44"', '"opCode":"80"')}
    assert RoutePush.parse(altered).events[0].op_code is OpCode.delivered
    assert not RoutePush.parse(altered).verify(CHECK_WORD)


def signed(msg_data: str) -> dict:
    return {"partnerID": "WENZHEN_DEV", "requestID": "r", "timestamp": "1",
            "msgDigest": msg_digest(msg_data, "1", CHECK_WORD), "msgData": msg_data}


def route(**fields) -> dict:
    return {**event("50").to_wire(), **fields}


@pytest.mark.parametrize("body, says", [
    ([], "JSON object"),
    ({**signed("{}"), "msgDigest": None}, "msgDigest"),
    ({k: v for k, v in signed("{}").items() if k != "partnerID"}, "partnerID"),
    (signed("not json"), "not JSON"),
    (signed("[]"), "WaybillRoute"),
    (signed('{"WaybillRoute": []}'), "WaybillRoute"),
    (signed('{"WaybillRoute": {"id": "1"}}'), "WaybillRoute"),
    (signed(json.dumps({"WaybillRoute": ["x"]})), "WaybillRoute[0]"),
    (signed(json.dumps({"WaybillRoute": [route(opCode="12")]})), "opCode"),
    (signed(json.dumps({"WaybillRoute": [route(acceptTime="2024-03-01T08:00:00Z")]})), "acceptTime"),
    (signed(json.dumps({"WaybillRoute": [route(acceptTime="2024-02-30 08:00:00")]})), "acceptTime"),
    (signed(json.dumps({"WaybillRoute": [route(orderid="")]})), "not a route of one of our orders"),
    (signed(json.dumps({"WaybillRoute": [route(mailno="")]})), "mailno"),
    (signed(json.dumps({"WaybillRoute": [route(), route(id=None)]})), "WaybillRoute[1]: id"),
])
def test_a_malformed_push_is_a_value_error_that_says_what(body, says):
    with pytest.raises(ValueError) as caught:
        RoutePush.parse(body)
    assert says in str(caught.value)


def test_a_malformed_push_error_does_not_repeat_the_values():
    secret = "张三 13912345678 幸福路1号"
    body = signed(json.dumps({"WaybillRoute": [route(acceptTime=secret)]}, ensure_ascii=False))
    with pytest.raises(ValueError) as caught:
        RoutePush.parse(body)
    assert "acceptTime" in str(caught.value) and "张三" not in str(caught.value) and "139" not in str(caught.value)


def test_route_steps_rank_in_the_order_a_parcel_moves_and_80_99_are_terminal():
    ranks = [op.rank for op in wire.HAPPY_ROUTE]
    assert wire.HAPPY_ROUTE == (OpCode("50"), OpCode("30"), OpCode("44"), OpCode("80"))
    assert ranks == sorted(ranks) and len(set(ranks)) == 4
    assert OpCode.delivery_failed.rank == OpCode.out_for_delivery.rank  # 33 and 44 alternate on redelivery
    assert OpCode.returned.rank == OpCode.delivered.rank > OpCode.out_for_delivery.rank
    assert {op for op in OpCode if op.terminal} == {OpCode.delivered, OpCode.returned}
    assert OpCode.delivered.meaning == "签收" and OpCode.picked_up.meaning == "收件"


def test_an_older_or_repeated_step_does_not_supersede_a_newer_one():
    picked, transit = event("50", "2024-03-01 08:00:00"), event("30", "2024-03-01 09:00:00")
    out, failed = event("44", "2024-03-01 10:00:00"), event("33", "2024-03-01 11:00:00")
    again, delivered = event("44", "2024-03-01 12:00:00"), event("80", "2024-03-01 13:00:00")
    assert picked.supersedes(None)
    assert transit.supersedes(picked) and not picked.supersedes(transit)  # late arrival of an older step
    assert failed.supersedes(out) and again.supersedes(failed) and not out.supersedes(failed)  # equal rank: later
    assert delivered.supersedes(again)
    assert not event("99", "2024-03-02 09:00:00").supersedes(delivered)  # nothing after a terminal step
    assert not transit.supersedes(event("30", "2024-03-01 09:00:00", route_id=transit.id))  # a duplicate


def test_accept_times_are_the_couriers_local_time_and_naive_datetimes_are_refused():
    e = event("80", "2024-12-31 23:59:59")
    assert e.accept_time == datetime(2024, 12, 31, 15, 59, 59, tzinfo=UTC)
    assert RouteEvent.model_validate(e.to_wire()) == e
    with pytest.raises(ValueError):
        RouteEvent(id="1", mailno="SF1", accept_time=datetime(2024, 1, 1), op_code=OpCode.delivered)
    assert RouteEvent.model_validate({**e.to_wire(), "opCode": 80, "id": 7}).id == "7"  # numbers from the wire


RECIPIENT = {"name": "张三", "phone": "13912345678", "address": "幸福路1号", "city": "上海市"}
SENDER = {"name": "第一医院药房", "phone": "02088888888", "address": "中山二路58号", "city": "广州市"}


def test_a_shipment_request_is_what_the_courier_reads_back():
    order = ShipmentRequest(order_id="po-7", cargo="药品", cold_chain=True, sender=SENDER, recipient=RECIPIENT,
                            remark="请冷藏")
    data = order.msg_data()
    assert data["orderId"] == "po-7" and data["expressTypeId"] == wire.EXPRESS_COLD_CHAIN
    assert [c["contactType"] for c in data["contactInfoList"]] == [1, 2]
    assert ShipmentRequest.from_msg_data(json.loads(wire.dumps(data))) == order
    assert ShipmentRequest(order_id="po-8", cargo="药品", sender=SENDER, recipient=RECIPIENT).express_type == 1


def test_shipment_errors_and_reprs_keep_personal_data_out():
    order = ShipmentRequest(order_id="po-7", cargo="药品", sender=SENDER, recipient=RECIPIENT)
    assert "张三" not in repr(order) and "13912345678" not in repr(order) and "上海市" in repr(order)
    data = order.msg_data()
    data["contactInfoList"][1]["mobile"] = "139"  # too short
    data["orderId"] = "po 7!"
    with pytest.raises(ValueError) as caught:
        ShipmentRequest.from_msg_data(data)
    message = str(caught.value)
    assert "recipient.phone" in message and "order_id" in message
    assert "139" not in message and "张三" not in message and "幸福路" not in message
    with pytest.raises(ValueError, match="recipient"):
        ShipmentRequest.from_msg_data({**order.msg_data(), "contactInfoList": [order.msg_data()["contactInfoList"][0]]})


def test_an_answer_carries_the_business_result_as_a_json_string():
    result = wire.business_ok({"orderId": "po-1", "waybillNoInfoList": [
        {"waybillType": 2, "waybillNo": "SF0000000000002"}, {"waybillType": 1, "waybillNo": "SF0000000000001"}]})
    body = wire.api_answer(wire.API_OK, "resp-1", "", result)
    assert isinstance(body["apiResultData"], str)
    answer = ApiAnswer.parse(json.loads(json.dumps(body)))
    assert answer.api_result_code == "A1000" and answer.result.success and answer.result.error_code == "S0000"
    assert wire.main_waybill(answer.result.msg_data) == "SF0000000000001"  # the main waybill, not a child's
    refused = ApiAnswer.parse(wire.api_answer(wire.API_OK, "r", "", wire.business_error("8016", "重复下单")))
    assert (refused.result.success, refused.result.error_code, refused.result.error_msg) == (False, "8016", "重复下单")
    busy = ApiAnswer.parse(wire.api_answer(wire.API_BUSY, "r", "系统繁忙"))
    assert busy.result is None and busy.api_result_code in wire.TRANSIENT_API_CODES
    with pytest.raises(ValueError):
        ApiAnswer.parse({"apiResultCode": "A1000", "apiResultData": "{not json"})
    with pytest.raises(ValueError):
        ApiAnswer.parse({"apiErrorMsg": "no code"})


def test_routes_of_a_query_answer_are_the_waybills_own_oldest_first():
    later, earlier = event("30", "2024-03-01 09:00:00").to_wire(), event("50", "2024-03-01 08:00:00").to_wire()
    anonymous = {k: v for k, v in event("44", "2024-03-01 10:00:00").to_wire().items() if k not in ("id", "orderid")}
    data = {"routeResps": [{"mailNo": "SF1234567890123", "routes": [later, earlier, anonymous]},
                           {"mailNo": "SF9999999999999", "routes": [event("80").to_wire()]}]}
    routes = wire.routes_from_answer(data, "SF1234567890123")
    assert [r.op_code.value for r in routes] == ["50", "30", "44"]
    assert routes[2].id == wire.routes_from_answer(data, "SF1234567890123")[2].id  # derived, stable
    assert routes[2].orderid is None
    assert wire.routes_from_answer({"routeResps": []}, "SF1234567890123") == []
