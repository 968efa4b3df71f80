"""Stock use cases: receiving lots, reading stock, and — inside an order's transaction — reserving, releasing and
taking units, so that an order's state and the stock it holds change together or not at all."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime

from contracts.pharmacy.dispensing import LotInput, Pharmacy, Pick, PickLine, PickRequest, StockLine, StockLot
from contracts.pharmacy.events import LotReceived, StockLow
from contracts.records.codes import DrugEntry
from services.pharmacy.stock import rules
from services.pharmacy.stock.rules import Lot, Product
from services.pharmacy.stock.store import StockStore, stock_id
from wenzhen import audit
from wenzhen.audit import CREATE, READ
from wenzhen.auth import Caller
from wenzhen.errors import Conflict, InvalidInput, NotFound, field_error
from wenzhen.storage import Tx


def pharmacies(store: StockStore) -> list[Pharmacy]:
    return store.pharmacies()


def _pharmacy(store: StockStore, code: str) -> Pharmacy:
    found = store.pharmacy(code)
    if found is None:
        raise rules.no_pharmacy(code)
    return found


def receive_lot(store: StockStore, caller: Caller, location: str, request: LotInput,
                drug: Callable[[str], DrugEntry], threshold: int, now: datetime) -> StockLine:
    rules.require_stock_keeper(caller.principal)
    _pharmacy(store, location)
    if request.expiry <= now.date():
        raise InvalidInput("The lot has expired.", [field_error("expiry", "is not in the future", "expired")])
    try:
        entry = drug(request.drug_code)  # records' formulary: the product's ingredient, strength and form
    except NotFound:
        raise InvalidInput(f"No drug {request.drug_code} in the formulary.",
                           [field_error("drug_code", "is not in the formulary", "unknown")]) from None
    lot = Lot(location, request.drug_code, request.lot_no, request.expiry, request.quantity, request.quantity)
    product = Product(entry.code, entry.ingredient, entry.strength, entry.form)

    def body(tx: Tx) -> None:
        line = store.receive(tx, lot, product, now)
        tx.emit(LotReceived(location=location, drug_code=lot.drug_code, lot_no=lot.lot_no,
                            expiry=lot.expiry.isoformat(), quantity=lot.received, on_hand=line["on_hand"]),
                subject=stock_id(location, lot.drug_code))
        audit.record(tx, caller, CREATE, "create", rules.LOTS_ENTITY, f"{location}:{lot.drug_code}:{lot.lot_no}")

    store.transact(body)
    return _line(store, store.line(location, request.drug_code), threshold)


def _line(store: StockStore, doc: dict, threshold: int) -> StockLine:
    lots = store.lots(doc["location"], doc["drug_code"])
    return StockLine(location=doc["location"], drug_code=doc["drug_code"], on_hand=doc["on_hand"],
                     reserved=doc["reserved"], available=doc["available"], low=doc["available"] < threshold,
                     lots=[StockLot(lot_no=x.lot_no, expiry=x.expiry, received=x.received, remaining=x.remaining)
                           for x in lots])


def stock(store: StockStore, caller: Caller, location: str, threshold: int) -> list[StockLine]:
    rules.require_stock_reader(caller.principal)
    _pharmacy(store, location)
    audit.record(store, caller, READ, "list", "InventoryReport", location)
    return [_line(store, doc, threshold) for doc in store.lines(location)]


# inside an order's transaction ---------------------------------------------------------------------------------------
def _low(tx: Tx, line: dict, quantity: int, threshold: int) -> None:
    if rules.crossed_low(line["available"] + quantity, line["available"], threshold):
        tx.emit(StockLow(location=line["location"], drug_code=line["drug_code"], available=line["available"],
                         threshold=threshold), subject=line["_id"])


def reserve(store: StockStore, tx: Tx, location: str, lines: Iterable[tuple[str, int]], threshold: int) -> bool:
    """Hold every line or none: True when all are reserved. A line that cannot be held undoes the ones before it (in
    this transaction) and says the stock is low."""
    held: list[tuple[str, int]] = []
    for drug_code, quantity in lines:
        line = store.reserve(tx, location, drug_code, quantity)
        if line is None:
            for done_code, done_quantity in held:
                store.release(tx, location, done_code, done_quantity)
            current = store.line(location, drug_code, tx)
            tx.emit(StockLow(location=location, drug_code=drug_code,
                             available=current["available"] if current else 0, threshold=threshold),
                    subject=stock_id(location, drug_code))
            return False
        held.append((drug_code, quantity))
        _low(tx, line, quantity, threshold)
    return True


def release(store: StockStore, tx: Tx, location: str, lines: Iterable[tuple[str, int]]) -> None:
    for drug_code, quantity in lines:
        store.release(tx, location, drug_code, quantity)


def pick_list(store: StockStore, location: str, lines: Iterable[tuple[str, int]], today: date) -> list[PickLine]:
    found = []
    for drug_code, quantity in lines:
        lots, short = rules.first_expiry_first_out(store.lots(location, drug_code), quantity, today)
        found.append(PickLine(prescribed_code=drug_code, quantity=quantity, lots=lots, short=short))
    return found


def dispense(store: StockStore, tx: Tx, location: str, lines: dict[str, int], picks: list[PickRequest],
             threshold: int, today: date) -> list[Pick]:
    """Take the picked units from their lots: each prescribed item exactly its quantity, from unexpired lots, a
    substitute only if equivalent and with a reason (its reservation released, free units of the substitute taken).
    Refuses (the transaction rolls back) with the field that is wrong."""
    taken: dict[str, int] = {}
    done: list[Pick] = []
    for n, pick in enumerate(picks):
        where = f"picks[{n}]"
        if pick.prescribed_code not in lines:
            raise InvalidInput(f"{pick.prescribed_code} is not an item of this order.",
                               [field_error(f"{where}.prescribed_code", "is not an item of the order", "unknown")])
        product_code = pick.drug_code or pick.prescribed_code
        substitute = product_code != pick.prescribed_code
        if substitute:
            if not pick.reason:
                raise InvalidInput("A substitution needs its reason recorded.",
                                   [field_error(f"{where}.reason", "is required for a substitution", "missing")])
            prescribed = store.product(location, pick.prescribed_code, tx)
            other = store.product(location, product_code, tx)
            if prescribed is None or other is None or not prescribed.equivalent(other):
                raise InvalidInput(f"{product_code} is not equivalent to {pick.prescribed_code} (the same "
                                   "ingredient, strength and form).",
                                   [field_error(f"{where}.drug_code", "is not an equivalent product",
                                                "not_equivalent")])
        lot = store.take_from_lot(tx, location, product_code, pick.lot_no, pick.quantity, today)
        if lot is None:
            raise Conflict(f"Lot {pick.lot_no} of {product_code} does not hold {pick.quantity} unexpired units here.",
                           [field_error(f"{where}.lot_no", "does not hold these units (or is expired)", "short")])
        if substitute:
            store.release(tx, location, pick.prescribed_code, pick.quantity)
            line = store.dispense_free(tx, location, product_code, pick.quantity)
            if line is None:
                raise Conflict(f"Too few free units of {product_code} to substitute.",
                               [field_error(f"{where}.quantity", "exceeds the free units", "short")])
            _low(tx, line, pick.quantity, threshold)
        elif not store.dispense_reserved(tx, location, product_code, pick.quantity):
            raise Conflict("The order's reservation does not cover this pick.",
                           [field_error(f"{where}.quantity", "exceeds what is reserved", "short")])
        taken[pick.prescribed_code] = taken.get(pick.prescribed_code, 0) + pick.quantity
        done.append(Pick(prescribed_code=pick.prescribed_code, drug_code=product_code, lot_no=lot.lot_no,
                         expiry=lot.expiry, quantity=pick.quantity,
                         substitution_reason=pick.reason if substitute else None))
    wrong = [code for code, quantity in lines.items() if taken.get(code, 0) != quantity]
    if wrong:
        raise InvalidInput("Each item must be dispensed in exactly its prescribed quantity.",
                           [field_error("picks", f"{code}: {taken.get(code, 0)} of {lines[code]}", "quantity")
                            for code in wrong])
    return done


def suggested_picks(store: StockStore, location: str, lines: dict[str, int], today: date) -> list[PickRequest]:
    """The first-expiry-first-out picks; refuses when unexpired lots cannot cover an item."""
    picks = []
    for line in pick_list(store, location, lines.items(), today):
        if line.short:
            raise Conflict(f"Unexpired lots of {line.prescribed_code} are {line.short} short; receive a lot or pick "
                           "a substitute.", [field_error("picks", f"{line.prescribed_code} is short", "short")])
        picks += [PickRequest(prescribed_code=line.prescribed_code, lot_no=lot.lot_no, quantity=lot.quantity)
                  for lot in line.lots]
    return picks
