"""``python -m services.payments.ledger check``: prove payments' ledger balances and agrees with the invoices. Exit 0
when it does; 1 naming the first discrepancy (``--all``: every one). Reads ``MONGO_URI`` and ``WENZHEN_DB_PREFIX``
like the services; needs no key (the ledger holds ids and amounts). Offline: it reads every entry and invoice once.
Its reads are not one snapshot (a transaction could not last a whole scan): on a system taking payments meanwhile, a
change committed between reading the entries and reading its invoice can show as a discrepancy of that invoice —
run it again, or at a quiet time (each change and its postings are one transaction, so a real one stays).

The one module of the ledger that knows the invoices: it hands the check what they say (this is the command's
wiring, not the ledger's rules)."""
from __future__ import annotations

import argparse
import sys

from services.payments.invoices.store import InvoiceStore
from services.payments.invoices.usecases import ledger_facts
from services.payments.ledger import usecases
from services.payments.ledger.store import LedgerStore
from wenzhen.config import settings
from wenzhen.storage import Store, client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.payments.ledger", description="payments' ledger")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="prove every posting balances, debits equal credits, the running totals "
                                         "equal their entries and each invoice's balances agree with it")
    check.add_argument("--all", action="store_true", help="list every discrepancy, not only the first")
    args = parser.parse_args(argv)

    cfg = settings()
    store = Store(client(cfg.mongo_uri)[cfg.database_name("payments")], name="payments")
    found = usecases.check(LedgerStore(store), ledger_facts(InvoiceStore(store)))
    print(found.line())
    for discrepancy in found.discrepancies[1:] if args.all else ():
        print(f"  {discrepancy}")
    return 0 if found.balanced else 1


if __name__ == "__main__":
    sys.exit(main())
