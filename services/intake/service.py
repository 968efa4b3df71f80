"""intake's Nameko service: one class composed of thin entrypoint groups (``entrypoints/``), one per capability.

Each group is a plain mixin over the ``store`` and ``caller`` dependencies that :class:`ServiceBase` provides;
the rules live in the domain modules they call.
"""
from __future__ import annotations

from services.intake import attachments, chats, complaints, desk, domain, knowledge, rulebook
from services.intake.entrypoints.care import CareEntrypoints
from services.intake.entrypoints.complaints import ComplaintEntrypoints
from services.intake.entrypoints.consultations import ConsultationEntrypoints
from services.intake.entrypoints.knowledge import KnowledgeEntrypoints
from services.intake.entrypoints.patients import PatientEntrypoints
from wenzhen.service import ServiceBase


class IntakeService(PatientEntrypoints, ConsultationEntrypoints, KnowledgeEntrypoints, ComplaintEntrypoints,
                    CareEntrypoints, ServiceBase):
    name = "intake"
    indexes = [*domain.INDEXES, *chats.INDEXES, *desk.INDEXES, *attachments.INDEXES, *rulebook.INDEXES,
               *knowledge.INDEXES, *complaints.INDEXES]
    retired_indexes = domain.RETIRED_INDEXES
    desk_rounds = (complaints.escalate_overdue,)  # complaint deadlines run on the desk's clock
