"""The follow-up plans' Nameko entrypoints: thin adapters over ``usecases``."""
from __future__ import annotations

from contracts.booking.events import AppointmentCompleted
from contracts.booking.schemas import FollowUpPlan, FollowUpQuery, FollowUpRequest
from contracts.records.events import ReportSigned
from services.booking.followups import usecases
from services.booking.followups.store import FollowUpStore
from wenzhen.consumer import consumes
from wenzhen.crypto import keyring
from wenzhen.events import Envelope
from wenzhen.service import rpc
from wenzhen.storage import Tx
from wenzhen.timez import utcnow


class FollowUpEntrypoints:
    @property
    def followups(self) -> FollowUpStore:
        return FollowUpStore(self.store, keyring())

    @rpc
    def plan_follow_up(self, appointment_id: str, request: FollowUpRequest) -> FollowUpPlan:
        return usecases.plan_follow_up(self.followups, self.caller, appointment_id, request, self.settings.policy,
                                       utcnow())

    @rpc
    def list_follow_ups(self, query: FollowUpQuery) -> list[FollowUpPlan]:
        return usecases.list_plans(self.followups, self.caller, now=utcnow(),
                                   horizon_days=self.settings.policy.horizon_days, patient_id=query.patient_id,
                                   doctor_id=query.doctor_id, limit=query.limit)

    # a follow-up advised in a signed report (records) becomes the visit's plan ----------------------------------------
    @consumes(ReportSigned)
    def on_report_signed(self, tx: Tx, event: ReportSigned, envelope: Envelope) -> None:
        if event.follow_up_in_days and event.appointment_id:
            usecases.advised(self.followups, tx, self.caller, event.appointment_id, event.follow_up_in_days,
                             event.doctor_id, envelope.sequence, self.settings.policy, utcnow())

    @consumes(AppointmentCompleted)
    def on_visit_completed(self, tx: Tx, event: AppointmentCompleted, envelope: Envelope) -> None:
        usecases.visit_completed(self.followups, tx, self.caller, event.appointment_id, self.settings.policy,
                                 utcnow())
