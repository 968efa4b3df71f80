"""pharmacy's settings (the README's configuration table), read once when the service starts and passed in."""
from __future__ import annotations

from dataclasses import dataclass

from services.pharmacy.orders.rules import Policy
from wenzhen.config import EnvSettings, setting


@dataclass(frozen=True)
class PharmacySettings(EnvSettings):
    # the courier: its open-platform endpoint, our partner id and the check word that signs requests and pushes
    # (`make run` and the tests start the sandbox courier and set these; a real courier's values in production)
    courier_url: str = setting("COURIER_URL", "")
    courier_partner_id: str = setting("COURIER_PARTNER_ID", "WENZHEN_DEV")
    courier_check_word: str = setting("COURIER_CHECK_WORD", "")
    courier_timeout: float = setting("COURIER_TIMEOUT_SECONDS", 5.0)
    # how often the shipping loop sends waiting shipment requests and confirms unverified pushes
    shipping_poll_seconds: float = setting("PHARMACY_SHIPPING_POLL_SECONDS", 1.0)
    # how often the sweeper cancels orders whose prescription's validity ended before dispensing
    sweep_seconds: float = setting("PHARMACY_SWEEP_SECONDS", 30.0)
    delivery_fee_fen: int = setting("PHARMACY_DELIVERY_FEE_FEN", 1000)
    low_stock_units: int = setting("PHARMACY_LOW_STOCK_UNITS", 10)
    # what may travel by courier: cold-chain and restricted items are pickup-only unless these are set
    ship_cold_chain: bool = setting("PHARMACY_SHIP_COLD_CHAIN", False)
    ship_restricted: bool = setting("PHARMACY_SHIP_RESTRICTED", False)

    @property
    def policy(self) -> Policy:
        return Policy(delivery_fee_fen=self.delivery_fee_fen, low_stock_units=self.low_stock_units,
                      ship_cold_chain=self.ship_cold_chain, ship_restricted=self.ship_restricted)
