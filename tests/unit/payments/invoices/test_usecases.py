"""The invoices' use cases over an in-memory store: an invoice per order, re-issued only for a later choice while
open; a desk payment once, for the amount due, by finance only; who reads and lists; refund requests recorded once
and never beyond what was paid — each with its event in the same transaction, its audit entry, and its ledger
postings (the ledger's fake shares the transaction: all or nothing)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.payments.events import InvoiceIssued, PaymentSucceeded, RefundRecorded
from contracts.payments.invoices import DeskPayment, InvoiceQuery, InvoiceStatus
from services.payments.invoices import rules, usecases
from services.payments.ledger import usecases as ledger
from services.payments.ledger.rules import Account, LedgerConflict
from tests.people import user
from tests.unit.payments.invoices.fakes import FakeInvoiceStore
from tests.unit.payments.invoices.test_rules import chosen, refund_asked
from wenzhen.auth import Caller, Role
from wenzhen.errors import Conflict, Forbidden, InvalidInput, NotFound

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
PAYMENTS = Caller.service("payments")  # what a consumer of pharmacy's events acts as
FINANCE = user(Role.finance, "acc_fin")
PATIENT = user(Role.patient, "acc_p", patients=("pat_1",))
STRANGER = user(Role.patient, "acc_q", patients=("pat_2",))
DOCTOR = user(Role.doctor, "acc_doc")
CASH = DeskPayment(method="cash", amount_fen=5200, reference="收据-0001")


@pytest.fixture
def store() -> FakeInvoiceStore:
    return FakeInvoiceStore()


def choose(store: FakeInvoiceStore, event=None):
    return store.transact(lambda tx: usecases.issue_for_fulfilment(store, store.ledger, tx, PAYMENTS,
                                                                   event or chosen(), NOW))


def ask_refund(store: FakeInvoiceStore, event):
    return store.transact(lambda tx: usecases.record_refund_request(store, store.ledger, tx, PAYMENTS, event, NOW))


def issued(store: FakeInvoiceStore):
    (invoice,) = store.invoices_.values()
    return invoice


def postings(store: FakeInvoiceStore) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """The ledger's postings in the order written: (id, [(account, debit, credit), ...])."""
    return [(p.id, [(line.account.value, line.debit_fen, line.credit_fen) for line in p.lines])
            for p in store.ledger.postings()]


def balances(store: FakeInvoiceStore, invoice_id: str) -> dict[str, int]:
    return {account.value: ledger.balance(store.ledger, account, invoice_id) for account in Account
            if ledger.balance(store.ledger, account, invoice_id)}


# issuing -------------------------------------------------------------------------------------------------------------
def test_a_fulfilment_choice_issues_the_orders_invoice_with_its_event_and_audit_entry(store):
    invoice = choose(store)
    assert (invoice.amount_fen, invoice.revision, invoice.status) == (5200, 1, InvoiceStatus.open)
    assert invoice.id.startswith("inv_") and store.invoices_ == {invoice.id: invoice}
    (event,) = store.events(InvoiceIssued)
    assert (event.invoice_id, event.purpose, event.reference, event.patient_id, event.amount_fen, event.revision) == (
        invoice.id, "dispensing_order", "dso_1", "pat_1", 5200, 1)
    assert store.sequences == [(invoice.id, 1)]
    assert [(a["action"], a["subtype"], a["entity_id"], a["patient_id"]) for a in store.audited] == [
        ("C", "issue", invoice.id, "pat_1")]
    assert postings(store) == [(f"{invoice.id}.issue.1", [("patient_receivable", 5200, 0), ("revenue", 0, 5200)])]
    assert {line.patient_id for p in store.ledger.postings() for line in p.lines} == {"pat_1"}


def test_a_later_choice_while_open_reissues_with_the_new_amount_and_an_older_or_repeated_one_is_ignored(store):
    first = choose(store)
    again = choose(store, chosen(choice=2, fee=0, method="pickup"))
    assert (again.id, again.amount_fen, again.revision) == (first.id, 4200, 2)
    assert [line for line, _ in again.lines] == ["drugs"]
    assert choose(store, chosen(choice=2, fee=0, method="pickup")) is None  # the same choice redelivered
    assert choose(store, chosen(choice=1)) is None  # an older one, late
    assert issued(store).amount_fen == 4200 and len(store.invoices_) == 1
    assert [(e.revision, e.amount_fen) for e in store.events(InvoiceIssued)] == [(1, 5200), (2, 4200)]
    assert store.sequences == [(first.id, 1), (first.id, 2)]
    # the first revision's posting reversed exactly, then the new amount; the ignored choices post nothing
    assert postings(store) == [
        (f"{first.id}.issue.1", [("patient_receivable", 5200, 0), ("revenue", 0, 5200)]),
        (f"{first.id}.issue.1.reversal", [("patient_receivable", 0, 5200), ("revenue", 5200, 0)]),
        (f"{first.id}.issue.2", [("patient_receivable", 4200, 0), ("revenue", 0, 4200)])]
    assert store.ledger.posting(f"{first.id}.issue.1.reversal").reverses == f"{first.id}.issue.1"
    assert balances(store, first.id) == {"patient_receivable": 4200, "revenue": 4200}


def test_choices_arriving_out_of_order_end_with_the_latest(store):
    choose(store, chosen(choice=3, fee=0, method="pickup"))
    assert choose(store, chosen(choice=2)) is None
    assert issued(store).amount_fen == 4200 and issued(store).revision == 1
    assert [p for p, _ in postings(store)] == [f"{issued(store).id}.issue.1"]


def test_a_reissue_whose_previous_posting_is_missing_is_refused_and_changes_nothing(store):
    invoice = choose(store)
    store.ledger.entries.clear()  # an invoice the ledger never heard of (e.g. issued before it existed)
    store.ledger.totals.clear()
    store.emitted.clear()
    with pytest.raises(LedgerConflict):
        choose(store, chosen(choice=2, fee=0, method="pickup"))
    assert (issued(store).revision, issued(store).amount_fen) == (1, 5200)  # the re-issue rolled back with it
    assert store.emitted == [] and store.ledger.entries == [] and invoice.id in store.invoices_


def test_a_choice_after_payment_changes_nothing(store):
    invoice = choose(store)
    usecases.record_desk_payment(store, store.ledger, FINANCE, invoice.id, CASH, NOW)
    assert choose(store, chosen(choice=2, fee=0)) is None
    assert issued(store).amount_fen == 5200 and issued(store).status == InvoiceStatus.paid
    assert [p for p, _ in postings(store)] == [f"{invoice.id}.issue.1",
                                               f"{invoice.id}.payment.{issued(store).payment.id}"]


def test_a_broken_fulfilment_event_issues_nothing(store):
    with pytest.raises(rules.InconsistentCharge):
        choose(store, chosen(amount=1))
    assert store.invoices_ == {} and store.emitted == [] and store.audited == [] and store.ledger.entries == []


# desk payments -------------------------------------------------------------------------------------------------------
def test_finance_records_a_desk_payment_once_for_the_amount_due(store):
    invoice = choose(store)
    shown = usecases.record_desk_payment(store, store.ledger, FINANCE, invoice.id, CASH, NOW)
    assert shown.status == "paid" and shown.payment.amount_fen == 5200 and shown.payment.reference == "收据-0001"
    assert shown.payment.recorded_by == "acc_fin" and shown.payment.id.startswith("pay_")
    (event,) = store.events(PaymentSucceeded)
    assert (event.invoice_id, event.amount_fen, event.method, event.payment_id, event.reference) == (
        invoice.id, 5200, "cash", shown.payment.id, "dso_1")
    assert store.sequences[-1] == (invoice.id, 2)
    assert store.audited[-1]["subtype"] == "desk-payment" and store.audited[-1]["outcome"] == "success"
    assert shown.payment.id in store.audited[-1]["detail"]
    assert postings(store)[-1] == (f"{invoice.id}.payment.{shown.payment.id}",
                                   [("cash_on_hand", 5200, 0), ("patient_receivable", 0, 5200)])
    assert balances(store, invoice.id) == {"revenue": 5200, "cash_on_hand": 5200}  # nothing owed any more

    with pytest.raises(Conflict) as twice:  # a second payment: the state is named
        usecases.record_desk_payment(store, store.ledger, FINANCE, invoice.id, CASH, NOW + timedelta(minutes=1))
    assert "paid" in twice.value.detail and twice.value.errors[0]["field"] == "status"
    assert len(store.events(PaymentSucceeded)) == 1 and issued(store).payment.paid_at == NOW
    assert store.audited[-1]["outcome"] == "failed" and store.audited[-1]["entity_id"] == invoice.id
    assert len(postings(store)) == 2  # the refused second payment posted nothing


def test_a_payment_of_another_amount_is_refused_naming_amount_fen_and_changes_nothing(store):
    invoice = choose(store)
    for amount in (5199, 5201):
        with pytest.raises(InvalidInput) as wrong:
            usecases.record_desk_payment(store, store.ledger, FINANCE, invoice.id,
                                         DeskPayment(method="card", amount_fen=amount), NOW)
        assert wrong.value.errors[0]["field"] == "amount_fen"
    assert issued(store).status == InvoiceStatus.open and store.events(PaymentSucceeded) == []
    assert [a["outcome"] for a in store.audited[-2:]] == ["failed", "failed"]
    assert [p for p, _ in postings(store)] == [f"{invoice.id}.issue.1"]


def test_a_payment_of_the_old_amount_after_a_reissue_is_refused(store):
    invoice = choose(store)
    choose(store, chosen(choice=2, fee=0, method="pickup"))
    with pytest.raises(InvalidInput):
        usecases.record_desk_payment(store, store.ledger, FINANCE, invoice.id, CASH, NOW)
    shown = usecases.record_desk_payment(store, store.ledger, FINANCE, invoice.id,
                                         DeskPayment(method="card", amount_fen=4200), NOW)
    assert shown.status == "paid" and shown.revision == 2
    assert postings(store)[-1][1] == [("card_clearing", 4200, 0), ("patient_receivable", 0, 4200)]
    assert balances(store, invoice.id) == {"revenue": 4200, "card_clearing": 4200}


def test_only_finance_records_desk_payments_and_a_missing_invoice_is_404(store):
    invoice = choose(store)
    for caller in (PATIENT, DOCTOR, user(Role.admin, "acc_a"), user(Role.pharmacist, "acc_ph")):
        with pytest.raises(Forbidden):
            usecases.record_desk_payment(store, store.ledger, caller, invoice.id, CASH, NOW)
    for missing in ("inv_01JD3Q5X7C9V2B8N4M6K1H0G2F", "nonsense", '{"$gt": ""}'):
        with pytest.raises(NotFound):
            usecases.record_desk_payment(store, store.ledger, FINANCE, missing, CASH, NOW)
    assert issued(store).status == InvoiceStatus.open and store.events(PaymentSucceeded) == []


# reading -------------------------------------------------------------------------------------------------------------
def test_the_patient_and_finance_read_an_invoice_others_are_told_it_does_not_exist_audited_as_denied(store):
    invoice = choose(store)
    store.audited.clear()
    assert usecases.get(store, PATIENT, invoice.id).id == invoice.id
    assert usecases.get(store, FINANCE, invoice.id).amount_fen == 5200
    for caller in (STRANGER, DOCTOR, user(Role.manager, "acc_m")):
        with pytest.raises(NotFound):
            usecases.get(store, caller, invoice.id)
    with pytest.raises(NotFound):
        usecases.get(store, FINANCE, "inv_01JD3Q5X7C9V2B8N4M6K1H0G2F")
    assert [(a["agent_id"], a["outcome"], a["patient_id"]) for a in store.audited] == [
        ("acc_p", "success", "pat_1"), ("acc_fin", "success", "pat_1"), ("acc_q", "denied", "pat_1"),
        ("acc_doc", "denied", "pat_1"), ("acc_m", "denied", "pat_1"), ("acc_fin", "denied", None)]


def test_listings_newest_first_by_patient_or_status_bounded_and_each_invoice_audited(store):
    ids = []
    for n in range(5):
        event = chosen().model_copy(update={"order_id": f"dso_{n}", "patient_id": "pat_1" if n % 2 == 0 else "pat_2"})
        ids.append(choose(store, event).id)
    usecases.record_desk_payment(store, store.ledger, FINANCE, ids[0], CASH, NOW)
    store.audited.clear()

    mine = usecases.list_invoices(store, PATIENT, InvoiceQuery(patient_id="pat_1"))
    assert [i.id for i in mine] == [ids[4], ids[2], ids[0]]
    assert [a["entity_id"] for a in store.audited] == [ids[4], ids[2], ids[0]]
    assert [i.id for i in usecases.list_invoices(store, FINANCE, InvoiceQuery(status="open"))] == ids[:0:-1]
    page = usecases.list_invoices(store, FINANCE, InvoiceQuery(status="open", limit=2))
    assert [i.id for i in page] == [ids[4], ids[3]]
    assert [i.id for i in usecases.list_invoices(store, FINANCE, InvoiceQuery(status="open", limit=2,
                                                                              before=page[-1].id))] == [ids[2], ids[1]]
    assert [i.id for i in usecases.list_invoices(store, FINANCE, InvoiceQuery(patient_id="pat_2"))] == [ids[3], ids[1]]
    assert [i.status for i in usecases.list_invoices(store, FINANCE, InvoiceQuery(status="paid"))] == ["paid"]


@pytest.mark.parametrize(("caller", "query"), [(PATIENT, InvoiceQuery()), (PATIENT, InvoiceQuery(patient_id="pat_2")),
                                               (DOCTOR, InvoiceQuery(patient_id="pat_1")), (FINANCE, InvoiceQuery()),
                                               (user(Role.admin, "acc_a"), InvoiceQuery())])
def test_a_listing_the_caller_may_not_ask_for_is_403_audited_as_denied(store, caller, query):
    choose(store)
    with pytest.raises(Forbidden):
        usecases.list_invoices(store, caller, query)
    assert store.audited[-1]["outcome"] == "denied" and store.audited[-1]["subtype"] == "list"


# refunds -------------------------------------------------------------------------------------------------------------
def paid_invoice(store: FakeInvoiceStore):
    invoice = choose(store)
    usecases.record_desk_payment(store, store.ledger, FINANCE, invoice.id, CASH, NOW)
    return issued(store)


def test_a_refund_of_a_paid_order_is_recorded_once_as_requested(store):
    invoice = paid_invoice(store)
    refund = ask_refund(store, refund_asked(invoice_id=invoice.id))
    assert (refund.status, refund.amount_fen, refund.rejection) == ("requested", 5200, None)
    assert ask_refund(store, refund_asked(invoice_id=invoice.id)) is None  # the same request again: nothing new
    (event,) = store.events(RefundRecorded)
    assert (event.invoice_id, event.refund_id, event.status, event.amount_fen, event.reason, event.reference) == (
        invoice.id, refund.id, "requested", 5200, "cancelled", "dso_1")
    assert store.sequences[-1] == (invoice.id, 3) and issued(store).refundable_fen == 0
    assert store.audited[-1]["subtype"] == "refund-request" and refund.id in store.audited[-1]["detail"]
    shown = usecases.get(store, PATIENT, invoice.id)
    assert [(r.id, r.status) for r in shown.refunds] == [(refund.id, "requested")]
    assert postings(store)[-1] == (f"{invoice.id}.refund.{refund.id}",
                                   [("revenue", 5200, 0), ("refunds_payable", 0, 5200)])
    assert len(postings(store)) == 3  # issue, payment, refund owed; the repeated request posted nothing
    assert balances(store, invoice.id) == {"cash_on_hand": 5200, "refunds_payable": 5200}


def test_refunds_never_add_up_to_more_than_was_paid(store):
    invoice = paid_invoice(store)
    first = ask_refund(store, refund_asked(amount=3000, invoice_id=invoice.id))
    second = ask_refund(store, refund_asked(amount=3000, invoice_id=invoice.id).model_copy(
        update={"reason": "returned"}))
    assert (first.status, second.status, second.rejection) == ("requested", "rejected", "exceeds_paid")
    assert issued(store).refundable_fen == 2200
    assert [(e.status, e.rejection) for e in store.events(RefundRecorded)] == [("requested", None),
                                                                               ("rejected", "exceeds_paid")]
    assert [v for _, v in store.sequences] == [1, 2, 3, 4]  # the rejection is an event about the invoice too
    assert [lines for p, lines in postings(store) if ".refund." in p] == [
        [("revenue", 3000, 0), ("refunds_payable", 0, 3000)]]  # the rejected request owes nothing
    assert ledger.balance(store.ledger, Account.refunds_payable, invoice.id) == 3000


def test_a_refund_of_an_unpaid_or_unknown_invoice_is_recorded_rejected_never_refused(store):
    invoice = choose(store)
    unpaid = ask_refund(store, refund_asked(invoice_id=invoice.id))
    assert (unpaid.status, unpaid.rejection) == ("rejected", "exceeds_paid")  # nothing was paid
    unknown = ask_refund(store, refund_asked(invoice_id="inv_01JD3Q5X7C9V2B8N4M6K1H0G2F"))
    assert (unknown.status, unknown.rejection) == ("rejected", "unknown_invoice")
    other_order = ask_refund(store, refund_asked(invoice_id=invoice.id, order_id="dso_9"))
    assert other_order.rejection == "unknown_invoice"
    assert [e.status for e in store.events(RefundRecorded)] == ["rejected"] * 3
    assert store.sequences[-2] == ("inv_01JD3Q5X7C9V2B8N4M6K1H0G2F", None)  # no invoice: numbered by the outbox
    assert issued(store).status == InvoiceStatus.open and issued(store).refundable_fen == 0
    assert [p for p, _ in postings(store)] == [f"{invoice.id}.issue.1"]  # rejections post nothing
