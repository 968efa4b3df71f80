"""The courier adapter: ``CourierClient`` speaks the SF-shaped open platform of ``contracts.pharmacy.courier`` over
HTTP and sorts every failure into one of two exceptions, because the caller does one of two things:

- ``CourierUnavailable`` — try again later (no connection, a timeout, a 5xx, "system busy", an answer it could not
  read). Retrying a create is safe: the orderId is unique at the courier, and a duplicate answers the first
  waybill.
- ``CourierRefused`` — it will not work as asked (the courier's code and message); a person must look.

Names, phones and addresses go to the courier only: never into a log line or an exception message.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import requests

from contracts.pharmacy.courier import (
    API_OK,
    BIZ_DUPLICATE_ORDER,
    BIZ_UNKNOWN_ORDER,
    TRANSIENT_API_CODES,
    ApiAnswer,
    BusinessResult,
    RouteEvent,
    RoutePush,
    ServiceCode,
    ShipmentRequest,
    main_waybill,
    request_form,
    routes_from_answer,
    search_order_data,
    search_routes_data,
)

log = logging.getLogger(__name__)


class CourierError(Exception):
    pass


class CourierUnavailable(CourierError):
    """Transient: the request may or may not have been done; ask again later."""


class CourierRefused(CourierError):
    """Permanent: the courier answered and said no."""

    def __init__(self, code: str, message: str):
        super().__init__(f"courier refused ({code}): {message}")
        self.code = code
        self.message = message


class CourierClient:
    def __init__(self, base_url: str, partner_id: str, check_word: str, timeout: float = 5.0,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time):
        if not base_url or not partner_id or not check_word:
            raise ValueError("the courier needs a URL, a partner id and a check word")
        self.base_url = base_url
        self.partner_id = partner_id
        self._check_word = check_word
        self.timeout = timeout
        self.session = session or requests.Session()
        self.clock = clock

    def __repr__(self) -> str:  # never the check word
        return f"CourierClient({self.base_url!r}, partner {self.partner_id!r})"

    # operations --------------------------------------------------------------------------------------------------
    def create_shipment(self, order: ShipmentRequest) -> str:
        """Order a pickup; the waybill number. Asked again with the same orderId, the courier refuses a duplicate
        (8016) and this answers the waybill it already gave, so a retry after a lost answer is harmless."""
        result = self._call(ServiceCode.create_order, order.msg_data(), order.order_id)
        if not result.success and result.error_code == BIZ_DUPLICATE_ORDER:
            waybill = self.waybill_for(order.order_id)
            if waybill is None:
                raise CourierUnavailable(f"order {order.order_id} is a duplicate but has no waybill yet")
            log.info("courier order %s existed already: waybill %s", order.order_id, waybill)
            return waybill
        self._require_success(result)
        waybill = main_waybill(result.msg_data)
        if waybill is None:  # accepted, waybill assigned later: a retry finds it through the duplicate
            raise CourierUnavailable(f"order {order.order_id} accepted without a waybill yet")
        log.info("courier order %s: waybill %s", order.order_id, waybill)
        return waybill

    def waybill_for(self, order_id: str) -> str | None:
        """The waybill of an order we placed, or None if the courier has no such order (or no waybill yet)."""
        result = self._call(ServiceCode.search_order, search_order_data(order_id), order_id)
        if not result.success and result.error_code == BIZ_UNKNOWN_ORDER:
            return None
        self._require_success(result)
        return main_waybill(result.msg_data)

    def query_routes(self, waybill: str) -> list[RouteEvent]:
        """The waybill's route as the courier knows it now, oldest first (the authenticated source of truth that
        confirms a push we could not verify)."""
        result = self._call(ServiceCode.search_routes, search_routes_data([waybill]), waybill)
        self._require_success(result)
        try:
            return routes_from_answer(result.msg_data, waybill)
        except ValueError as exc:
            raise CourierUnavailable(f"routes of {waybill}: unreadable answer ({exc})") from None

    def verify_push(self, body: Mapping[str, Any]) -> RoutePush | None:
        """The push if it is ours and signed with our check word; None if not (a forgery, or another partner's).
        Raises ValueError when the body is not a push at all (answer it ``1000``)."""
        push = RoutePush.parse(body)
        if push.partner_id != self.partner_id:
            log.warning("route push %s names another partner; ignored", push.request_id)
            return None
        if not push.verify(self._check_word):
            log.warning("route push %s failed its digest; not believed", push.request_id)
            return None
        return push

    # the wire ----------------------------------------------------------------------------------------------------
    def _call(self, service: ServiceCode, msg_data: dict[str, Any], subject: str) -> BusinessResult:
        """One signed request; the business result (success or not), or an exception for everything before it.
        ``subject`` (an orderId or a waybill) is what the log lines name."""
        request_id = uuid.uuid4().hex
        form = request_form(self.partner_id, request_id, service, msg_data, self._check_word,
                            int(self.clock() * 1000))
        what = f"{service.value} {subject} (request {request_id})"
        try:
            response = self.session.post(self.base_url, data=form, timeout=self.timeout, headers={
                "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8", "Accept": "application/json"})
        except requests.Timeout:
            log.warning("courier %s: no answer within %.1fs", what, self.timeout)
            raise CourierUnavailable(f"{service.value}: no answer within {self.timeout:.1f}s") from None
        except requests.RequestException as exc:
            log.warning("courier %s: %s", what, type(exc).__name__)
            raise CourierUnavailable(f"{service.value}: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            log.warning("courier %s: HTTP %d", what, response.status_code)
            raise CourierUnavailable(f"{service.value}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise CourierRefused(f"HTTP {response.status_code}", f"{service.value} was refused")
        try:
            answer = ApiAnswer.parse(response.json())
        except ValueError as exc:  # a proxy's page, a cut-off body: the request may have been done; ask again
            log.warning("courier %s: unreadable answer (%s)", what, exc)
            raise CourierUnavailable(f"{service.value}: unreadable answer") from None
        if answer.api_result_code in TRANSIENT_API_CODES:
            log.warning("courier %s: %s %s", what, answer.api_result_code, answer.api_error_msg)
            raise CourierUnavailable(f"{service.value}: {answer.api_result_code} {answer.api_error_msg}")
        if answer.api_result_code != API_OK:
            log.error("courier %s: refused %s %s", what, answer.api_result_code, answer.api_error_msg)
            raise CourierRefused(answer.api_result_code, answer.api_error_msg)
        if answer.result is None:
            raise CourierUnavailable(f"{service.value}: answer without a result")
        if not answer.result.success:
            log.info("courier %s: %s %s", what, answer.result.error_code, answer.result.error_msg)
        return answer.result

    @staticmethod
    def _require_success(result: BusinessResult) -> None:
        if not result.success:
            raise CourierRefused(result.error_code or "?", result.error_msg or "")
