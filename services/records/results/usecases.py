"""Orders and results (authorize → store → emit → audit): ordered by the encounter's doctor, recorded by staff or a
laboratory's FHIR Bundle, released to the patient by a doctor."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.records.events import OrderPlaced, ResultRecorded, ResultReleased
from contracts.records.results import (
    Category,
    Order,
    OrderRequest,
    OrderStatus,
    Result,
    ResultInput,
    ResultQuery,
    ResultStatus,
)
from services.records import scope
from services.records.encounters.usecases import ClinicalContext
from services.records.results import bundle, rules
from services.records.results.rules import ORDER, RESULT, OrderRecord, ResultRecord
from services.records.results.store import ResultExists, ResultStore
from wenzhen import audit, ids
from wenzhen.audit import CREATE, READ, UPDATE, Outcome
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, NotFound, field_error
from wenzhen.storage import Tx
from wenzhen.timez import as_utc, to_local_iso


def order_view(order: OrderRecord) -> Order:
    return Order(id=order.id, encounter_id=order.encounter_id, patient_id=order.patient_id, doctor_id=order.doctor_id,
                 category=order.category, tests=list(order.tests), note=order.note, status=order.status,
                 ordered_at=to_local_iso(order.ordered_at))


def result_view(result: ResultRecord) -> Result:
    return Result(id=result.id, order_id=result.order_id, encounter_id=result.encounter_id,
                  patient_id=result.patient_id, category=result.category, status=result.status,
                  conclusion=result.conclusion, observations=list(result.observations), abnormal=result.abnormal,
                  issued=to_local_iso(result.issued), recorded_by=result.recorded_by, source=result.source,
                  released_at=to_local_iso(result.released_at) if result.released_at else None)


def _result_ids(result: ResultRecord) -> dict:
    return dict(result_id=result.id, order_id=result.order_id, encounter_id=result.encounter_id,
                patient_id=result.patient_id, doctor_id=result.doctor_id, category=result.category.value)


# orders --------------------------------------------------------------------------------------------------------------
def place_order(store: ResultStore, clinical: ClinicalContext, caller: Caller, encounter_id: str,
                request: OrderRequest, now: datetime) -> Order:
    encounter = clinical.encounter(encounter_id)
    rules.require_orderer(caller.principal, encounter, encounter_id)
    order = OrderRecord(id=ids.new_id("ord"), encounter_id=encounter_id, patient_id=encounter.patient_id,
                        doctor_id=encounter.doctor_id, category=request.category, tests=tuple(request.tests),
                        note=request.note, status=OrderStatus.active, ordered_at=now)

    def body(tx: Tx) -> None:
        store.insert_order(tx, order)
        tx.emit(OrderPlaced(order_id=order.id, encounter_id=encounter_id, patient_id=order.patient_id,
                            doctor_id=order.doctor_id, category=order.category.value, tests=len(order.tests)),
                subject=order.id, version=1)
        audit.record(tx, caller, CREATE, "order", ORDER, order.id, patient_id=order.patient_id)

    store.transact(body)
    return order_view(order)


def _visible_order(store: ResultStore, clinical: ClinicalContext, caller: Caller, order_id: str, action: str,
                   subtype: str, now: datetime) -> OrderRecord:
    order = store.order(order_id)
    if order is None or not rules.sees_order(caller.principal, order,
                                             clinical.cares_for(caller.principal, order.patient_id, now)):
        audit.record(store, caller, action, subtype, ORDER, order_id, patient_id=order.patient_id if order else None,
                     outcome=Outcome.denied)
        raise rules.not_found("order", order_id)
    return order


def get_order(store: ResultStore, clinical: ClinicalContext, caller: Caller, order_id: str, now: datetime) -> Order:
    order = _visible_order(store, clinical, caller, order_id, READ, "read", now)
    audit.record(store, caller, READ, "read", ORDER, order.id, patient_id=order.patient_id)
    return order_view(order)


def list_orders(store: ResultStore, clinical: ClinicalContext, caller: Caller, query: ResultQuery,
                now: datetime) -> list[Order]:
    """Laboratories: the active orders (their work list, oldest first). Patients and doctors: as for results."""
    p = caller.principal
    if p.has_role(Role.lab) and query.patient_id is None and query.encounter_id is None:
        found = store.orders(status=OrderStatus.active.value, limit=query.limit)
    else:
        _require_listing(store, clinical, caller, query, ORDER, now)
        found = store.orders(patient_id=query.patient_id, encounter_id=query.encounter_id, limit=query.limit)
        found = [o for o in found if rules.sees_order(p, o, True)]
    for order in found:
        audit.record(store, caller, READ, "read", ORDER, order.id, patient_id=order.patient_id, detail="list")
    return [order_view(o) for o in found]


# results -------------------------------------------------------------------------------------------------------------
def record_result(store: ResultStore, clinical: ClinicalContext, caller: Caller, request: ResultInput,
                  now: datetime) -> Result:
    """Staff enter the results of an order (the laboratory, or a doctor who ordered it or cares for the patient)."""
    order = _recordable(store, clinical, caller, request.order_id, now)
    return _record(store, caller, order, source="staff", conclusion=request.conclusion,
                   observations=request.observations, issued=as_utc(request.issued) if request.issued else now,
                   category=None, identifier=None, now=now)


def record_lab_bundle(store: ResultStore, clinical: ClinicalContext, caller: Caller, document: Any,
                      now: datetime) -> tuple[Result, bool]:
    """A laboratory system's transaction Bundle: validated whole, matched to its order and that order's patient;
    refused whole otherwise. The same report (its identifier) sent again answers the stored result (``False``: not
    created now)."""
    report = bundle.parse(document)
    order = _recordable(store, clinical, caller, report.order_id, now, field="DiagnosticReport.basedOn")
    rules.require_patient(order, report.patient_id)
    if report.identifier is not None:
        earlier = store.result_of_order(order.id)
        if earlier is not None and earlier.identifier == report.identifier:
            audit.record(store, caller, READ, "read", RESULT, earlier.id, patient_id=earlier.patient_id,
                         detail="the same report sent again")
            return result_view(earlier), False
    created = _record(store, caller, order, source="lab", conclusion=report.conclusion,
                      observations=report.observations, issued=report.issued or now, category=report.category,
                      identifier=report.identifier, now=now)
    return created, True


def _recordable(store: ResultStore, clinical: ClinicalContext, caller: Caller, order_id: str, now: datetime,
                field: str = "order_id") -> OrderRecord:
    p = caller.principal
    if not p.has_role(Role.lab, Role.doctor):
        raise Forbidden("The laboratory, or a doctor, records results.")
    order = store.order(order_id)
    if order is None or not rules.may_record(p, order, clinical.cares_for(p, order.patient_id, now)):
        audit.record(store, caller, CREATE, "result", RESULT, None, patient_id=order.patient_id if order else None,
                     outcome=Outcome.denied, detail=f"order {order_id}")
        raise NotFound(f"No order {order_id}, or not one the caller may record results for.",
                       [field_error(field, "is not an order the caller may record results for", "not_found")])
    return order


def _record(store: ResultStore, caller: Caller, order: OrderRecord, *, source: str, conclusion, observations,
            issued: datetime, category: Category | None, identifier: str | None, now: datetime) -> Result:
    rules.require_open_order(order)
    result = ResultRecord(
        id=ids.new_id("res"), order_id=order.id, encounter_id=order.encounter_id, patient_id=order.patient_id,
        doctor_id=order.doctor_id, category=category or order.category, status=ResultStatus.final,
        conclusion=conclusion, observations=tuple(rules.observation(ids.new_id("obs"), o) for o in observations),
        issued=issued, recorded_by=caller.principal.sub, source=source, identifier=identifier)

    def body(tx: Tx) -> None:
        if not store.complete_order(tx, order.id):
            raise ResultExists()
        store.insert_result(tx, result)
        tx.emit(ResultRecorded(**_result_ids(result), entered_by=source, observations=len(result.observations)),
                subject=result.id, version=1)
        audit.record(tx, caller, CREATE, "result", RESULT, result.id, patient_id=result.patient_id,
                     detail=f"{source}, order {order.id}")

    try:
        store.transact(body)
    except ResultExists:
        raise rules.result_exists(order.id) from None
    return result_view(result)


def release(store: ResultStore, clinical: ClinicalContext, caller: Caller, result_id: str, now: datetime) -> Result:
    """Shown to the patient from now on; ``result_released`` tells notify to let them know."""
    result = _visible(store, clinical, caller, result_id, UPDATE, "release", now)
    rules.require_releaser(caller.principal, result, clinical.cares_for(caller.principal, result.patient_id, now))

    def body(tx: Tx) -> ResultRecord:
        done = store.release(tx, result_id, now)
        if done is None:
            raise Conflict(f"Result {result_id} was released meanwhile.")
        tx.emit(ResultReleased(**_result_ids(done), released_by=caller.principal.sub), subject=done.id,
                version=done.version)
        audit.record(tx, caller, UPDATE, "release", RESULT, done.id, patient_id=done.patient_id)
        return done

    return result_view(store.transact(body))


def _visible(store: ResultStore, clinical: ClinicalContext, caller: Caller, result_id: str, action: str,
             subtype: str, now: datetime) -> ResultRecord:
    result = store.result(result_id)
    if result is None or not rules.sees_result(caller.principal, result,
                                               clinical.cares_for(caller.principal, result.patient_id, now)):
        audit.record(store, caller, action, subtype, RESULT, result_id,
                     patient_id=result.patient_id if result else None, outcome=Outcome.denied)
        raise rules.not_found("result", result_id)
    return result


def get_result(store: ResultStore, clinical: ClinicalContext, caller: Caller, result_id: str,
               now: datetime) -> Result:
    result = _visible(store, clinical, caller, result_id, READ, "read", now)
    audit.record(store, caller, READ, "read", RESULT, result.id, patient_id=result.patient_id)
    return result_view(result)


def _require_listing(store: ResultStore, clinical: ClinicalContext, caller: Caller, query: ResultQuery, entity: str,
                     now: datetime) -> None:
    """``services.records.scope``'s rule; a doctor's own means an encounter of theirs (``encounter_id``)."""
    p = caller.principal
    why = scope.listing_refusal(p, query.patient_id, lambda: clinical.cares_for(p, query.patient_id, now),
                                "orders and results")
    if why is None and p.has_role(Role.doctor) and query.patient_id is None:
        encounter = clinical.encounter(query.encounter_id) if query.encounter_id else None
        if encounter is None or encounter.doctor_id != p.sub:
            why = "A doctor names a patient they care for, or an encounter of their own (`encounter_id`)."
    if why:
        audit.record(store, caller, READ, "list", entity, None, patient_id=query.patient_id, outcome=Outcome.denied)
        raise Forbidden(why)


def list_results(store: ResultStore, clinical: ClinicalContext, caller: Caller, query: ResultQuery,
                 now: datetime) -> list[Result]:
    """Patients see released results only; every result listed is an audited read."""
    _require_listing(store, clinical, caller, query, RESULT, now)
    found = [r for r in store.results(patient_id=query.patient_id, encounter_id=query.encounter_id,
                                      limit=query.limit) if rules.sees_result(caller.principal, r, True)]
    for result in found:
        audit.record(store, caller, READ, "read", RESULT, result.id, patient_id=result.patient_id, detail="list")
    return [result_view(r) for r in found]
