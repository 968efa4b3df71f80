"""Stock decisions, pure: first expiry first out, what counts as an equivalent product, when stock is low.

Counts live in one document per pharmacy and product (``on_hand = reserved + available``, never negative: each change
is one conditional update whose filter holds the precondition); lots (batch number and expiry) are where units are
taken from when an order is dispensed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from contracts.pharmacy.dispensing import SuggestedLot
from wenzhen.auth import Principal, Role
from wenzhen.errors import Forbidden, NotFound

LOTS_ENTITY = "SupplyDelivery"


@dataclass(frozen=True)
class Lot:
    location: str
    drug_code: str
    lot_no: str
    expiry: date
    received: int
    remaining: int


@dataclass(frozen=True)
class Product:
    """What decides equivalence: the same ingredient, strength and form (a generic for a brand, say)."""

    drug_code: str
    ingredient: str
    strength: str
    form: str

    def equivalent(self, other: Product) -> bool:
        return (self.ingredient, self.strength, self.form) == (other.ingredient, other.strength, other.form)


def first_expiry_first_out(lots: list[Lot], quantity: int, today: date) -> tuple[list[SuggestedLot], int]:
    """The unexpired lots to take ``quantity`` from, earliest expiry first; and how many units they cannot cover."""
    taken: list[SuggestedLot] = []
    need = quantity
    for lot in sorted(lots, key=lambda x: (x.expiry, x.lot_no)):
        if need == 0:
            break
        if lot.expiry < today or lot.remaining <= 0:
            continue
        take = min(lot.remaining, need)
        taken.append(SuggestedLot(lot_no=lot.lot_no, expiry=lot.expiry, quantity=take))
        need -= take
    return taken, need


def crossed_low(before: int, after: int, threshold: int) -> bool:
    """Free units fell below the threshold with this change (said once per crossing, not on every order)."""
    return after < threshold <= before


def require_stock_keeper(principal: Principal) -> None:
    if not principal.has_role(Role.pharmacist):
        raise Forbidden("Only a pharmacist receives lots.")


def require_stock_reader(principal: Principal) -> None:
    if not principal.has_role(Role.pharmacist, Role.manager):
        raise Forbidden("Only pharmacists and managers read stock.")


def no_pharmacy(code: str) -> NotFound:
    return NotFound(f"No pharmacy {code}.")
