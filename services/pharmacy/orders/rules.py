"""The dispensing order's rules, pure: its state machine, what may travel by courier, what it costs, who sees it.

Every transition is one row of ``TRANSITIONS``; the store applies it as a conditional update whose filter is the row's
``from`` states, so two pharmacists (or a pharmacist and the courier) racing on one order cannot both win, and a
refused transition names the state the order is in (a 409).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from contracts.pharmacy.dispensing import (
    Delivery,
    DispensingStatus,
    FulfilmentMethod,
    FulfilmentRequest,
    OrderItem,
    Pick,
)
from contracts.records.codes import DrugCategory
from wenzhen.auth import Principal, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error

ENTITY = "MedicationDispense"
S = DispensingStatus

# What cannot travel by courier unless the hospital allows it: cold-chain items (2–8 °C) and the restricted classes
# (麻醉药品, 第一类精神药品, 医疗用毒性药品, 放射性药品), handed over in person at the pharmacy.
RESTRICTED = frozenset({DrugCategory.narcotic, DrugCategory.psychotropic_1, DrugCategory.toxic,
                        DrugCategory.radioactive})
DELIVERY_DAYS_AHEAD = 7
PICKUP_ATTEMPTS = 5  # wrong pickup codes before the order must be handed over by a pharmacist's check of identity


@dataclass(frozen=True)
class Policy:
    delivery_fee_fen: int = 1000
    low_stock_units: int = 10
    ship_cold_chain: bool = False
    ship_restricted: bool = False


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[DispensingStatus]
    target: DispensingStatus
    event: str  # the trace step it records


TRANSITIONS = {t.action: t for t in (
    Transition("pay", frozenset({S.awaiting_payment}), S.paid, "paid"),
    Transition("start", frozenset({S.paid}), S.dispensing, "dispensing_started"),
    Transition("ship", frozenset({S.dispensing}), S.shipped, "shipped"),
    Transition("deliver", frozenset({S.dispensing, S.shipped}), S.delivered, "delivered"),
    Transition("ready", frozenset({S.dispensing}), S.ready_for_pickup, "ready_for_pickup"),
    Transition("pick_up", frozenset({S.ready_for_pickup}), S.picked_up, "picked_up"),
    Transition("cancel", frozenset({S.awaiting_payment, S.paid}), S.cancelled, "cancelled"),
    # a started order is cancelled only before anything was taken from a lot (the store checks no picks)
    Transition("cancel_started", frozenset({S.dispensing}), S.cancelled, "cancelled"),
    Transition("return", frozenset({S.shipped, S.delivered, S.ready_for_pickup}), S.returned, "returned"),
)}


@dataclass(frozen=True)
class OrderRecord:
    id: str
    prescription_id: str
    patient_id: str
    status: DispensingStatus
    items: tuple[OrderItem, ...]
    total_fen: int
    delivery_allowed: bool
    valid_until: datetime
    created_at: datetime
    version: int
    method: FulfilmentMethod | None = None
    location: str | None = None
    delivery: Delivery | None = None
    delivery_fee_fen: int = 0
    choice: int = 0
    reserved: bool = False
    invoice_id: str | None = None
    paid_fen: int = 0
    waybill: str | None = None
    shipment_problem: str | None = None
    pickup_code: str | None = None
    pickup_attempts: int = 0
    picks: tuple[Pick, ...] = ()
    history: tuple[dict, ...] = ()
    route: tuple[dict, ...] = ()

    @property
    def amount_fen(self) -> int:
        return self.total_fen + self.delivery_fee_fen


@dataclass
class TraceEntry:
    """One step of a prescription's path (the regulator's record); ``lots`` for dispensing."""

    prescription_id: str
    patient_id: str
    step: str
    at: datetime
    actor_role: str
    actor_id: str | None = None
    order_id: str | None = None
    location: str | None = None
    lots: list[dict] = field(default_factory=list)
    waybill: str | None = None
    outcome: str | None = None


# what may travel, what it costs ---------------------------------------------------------------------------------------
def delivery_allowed(items: Iterable[OrderItem], policy: Policy) -> bool:
    for item in items:
        categories = set(item.categories)
        if DrugCategory.cold_chain in categories and not policy.ship_cold_chain:
            return False
        if categories & RESTRICTED and not policy.ship_restricted:
            return False
    return True


def delivery_fee(method: FulfilmentMethod, policy: Policy) -> int:
    return policy.delivery_fee_fen if method is FulfilmentMethod.delivery else 0


def check_fulfilment(order: OrderRecord, request: FulfilmentRequest, pickup_locations: set[str],
                     dispatch_location: str | None, today: date) -> str:
    """The pharmacy that will dispense it; refuses what cannot be (naming the field)."""
    if request.method is FulfilmentMethod.pickup:
        if request.delivery is not None:
            raise InvalidInput("Pickup takes no delivery address.",
                               [field_error("delivery", "must be left out for pickup", "unexpected")])
        if request.location is None:
            raise InvalidInput("Name the pharmacy to collect it from.",
                               [field_error("location", "is required for pickup", "missing")])
        if request.location not in pickup_locations:
            raise InvalidInput(f"No pharmacy {request.location}.",
                               [field_error("location", "is not one of the hospital's pharmacies", "unknown")])
        return request.location
    if not order.delivery_allowed:
        raise InvalidInput("This prescription is pickup-only: a cold-chain or restricted medicine is handed over at "
                           "the pharmacy.", [field_error("method", "delivery is not allowed for these items",
                                                         "pickup_only")])
    if request.delivery is None:
        raise InvalidInput("Delivery needs an address, a phone and a time window.",
                           [field_error("delivery", "is required for delivery", "missing")])
    if request.location is not None and request.location != dispatch_location:
        raise InvalidInput("Deliveries are dispatched by the courier pharmacy; leave out the location.",
                           [field_error("location", "must be left out for delivery", "unexpected")])
    if not today <= request.delivery.day <= today + timedelta(days=DELIVERY_DAYS_AHEAD):
        raise InvalidInput(f"The delivery day must be today or within {DELIVERY_DAYS_AHEAD} days.",
                           [field_error("delivery.day", f"must be within {DELIVERY_DAYS_AHEAD} days from today",
                                        "out_of_range")])
    if dispatch_location is None:
        raise Conflict("No pharmacy of the hospital ships by courier: choose pickup.")
    return dispatch_location


# who sees and does what ----------------------------------------------------------------------------------------------
def sees(principal: Principal, order: OrderRecord) -> bool:
    """The patient (an account acting for the record) and pharmacists."""
    return principal.acts_for(order.patient_id) or principal.has_role(Role.pharmacist)


def require_pharmacist(principal: Principal) -> None:
    if not principal.has_role(Role.pharmacist):
        raise Forbidden("Only a pharmacist may do this.")


def require_patient_of(principal: Principal, order: OrderRecord) -> None:
    if not principal.acts_for(order.patient_id):
        raise Forbidden("Only the patient (or an account acting for them) may do this.")


def not_found(order_id: str) -> NotFound:
    return NotFound(f"No dispensing order {order_id}, or not one the caller may see.")


def refused(action: str, order: OrderRecord) -> Conflict:
    t = TRANSITIONS[action]
    allowed = ", ".join(sorted(s.value for s in t.sources))
    return Conflict(f"The order is {order.status.value}; this needs it {allowed}.",
                    [field_error("status", f"is {order.status.value}", "invalid_transition")])


def check_not_expired(order: OrderRecord, now: datetime) -> None:
    if now >= order.valid_until:
        raise Conflict("The prescription's validity ended: it can no longer be dispensed (the doctor writes a new "
                       "one).", [field_error("valid_until", "has passed", "expired")])


def view_for(principal: Principal, order: OrderRecord) -> dict:
    """What the caller sees of it: the pickup code is the patient's alone (a pharmacist must be shown it)."""
    show_code = principal.acts_for(order.patient_id) and order.status is S.ready_for_pickup
    return {"pickup_code": order.pickup_code if show_code else None}
