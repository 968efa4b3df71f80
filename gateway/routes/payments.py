"""Payments: invoices and payments taken at the cashier's desk.

A dispensing order is invoiced when the patient chooses delivery or pickup (and invoiced again with the new amount if
they change their choice before paying). Finance staff take the payment at the desk, cash or card, for exactly the
amount due; pharmacy then reserves and dispenses. Refunds pharmacy asks for are recorded on the invoice. Amounts are
integer fen (CNY). Every read is audited.
"""
from __future__ import annotations

from contracts.payments.invoices import DeskPayment, Invoice, InvoiceQuery
from gateway.api import Call, Reply
from gateway.app_api import api
from wenzhen.auth import Role

TAGS = ["payments"]
FINANCE = {Role.finance}
READERS = {Role.patient, Role.finance}
NOT_YOURS = "No such invoice, or not one the caller may see (the two are not told apart)."


@api.route("GET", "/v1/invoices", summary="List invoices", tags=TAGS, allow=READERS, query=InvoiceQuery,
           response=list[Invoice],
           errors={403: "A patient names a record they act for (`patient_id`); finance staff name a `status` or a "
                        "`patient_id`."})
def list_invoices(call: Call) -> list:
    """Newest first. Finance staff: by `status` (`open`: waiting for payment) or one patient's; `before` (the last
    id of a page) gives the next page. Every invoice listed is an audited read."""
    return call.rpc("payments", "list_invoices", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/invoices/{invoice_id}", summary="Read an invoice", tags=TAGS, allow=READERS,
           response=Invoice, errors={404: NOT_YOURS})
def get_invoice(call: Call, invoice_id: str) -> dict:
    """With its lines, its payment and any refund requests. The patient it is for (or an account acting for them),
    and finance staff."""
    return call.rpc("payments", "get_invoice", invoice_id)


@api.route("POST", "/v1/invoices/{invoice_id}/desk-payments", summary="Record a payment taken at the desk",
           tags=TAGS, allow=FINANCE, request=DeskPayment, response=Invoice, status=201,
           errors={404: "No such invoice.", 409: "The invoice is not open (paid already): it takes no payment.",
                   422: "The amount is not the amount due (`amount_fen`), or a field is invalid."})
def record_desk_payment(call: Call, invoice_id: str) -> Reply:
    """Cash or card, exactly the amount due, with the receipt or terminal number (`reference`). The invoice is then
    paid (`payment_succeeded`: pharmacy reserves and dispenses the order); once."""
    return Reply(call.rpc("payments", "record_desk_payment", invoice_id,
                          call.body.model_dump(mode="json", exclude_none=True)), 201)
