"""The follow-up plans' Nameko entrypoints: thin adapters over ``usecases``."""
from __future__ import annotations

from contracts.booking.schemas import FollowUpPlan, FollowUpQuery, FollowUpRequest
from services.booking.followups import usecases
from services.booking.followups.store import FollowUpStore
from wenzhen.crypto import keyring
from wenzhen.service import rpc
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
