"""Patient complaints: filing, the handlers' queue, the workflow (thin adapters over ``services.intake.complaints``).

The overdue sweep (``complaints.escalate_overdue``) is not an RPC: intake's timer loop runs it.
"""
from __future__ import annotations

from services.intake import complaints
from services.intake.complaints import ComplaintFiling, ComplaintQuery, ComplaintStatusChange
from wenzhen.crypto import keyring
from wenzhen.errors import validated
from wenzhen.service import rpc


class ComplaintEntrypoints:
    @rpc
    def file_complaint(self, filing: dict) -> dict:
        valid = validated(ComplaintFiling, filing)
        return complaints.file_complaint(self.store, keyring(), self.caller, valid).model_dump(mode="json")

    @rpc
    def get_complaint(self, complaint_id: str) -> dict:
        return complaints.get_complaint(self.store, keyring(), self.caller, complaint_id).model_dump(mode="json")

    @rpc
    def list_complaints(self, query: dict | None = None) -> list[dict]:
        valid = validated(ComplaintQuery, query or {})
        return [c.model_dump(mode="json") for c in complaints.list_complaints(self.store, self.caller, valid)]

    @rpc
    def change_complaint_status(self, complaint_id: str, change: dict) -> dict:
        valid = validated(ComplaintStatusChange, change)
        return complaints.change_status(self.store, keyring(), self.caller, complaint_id, valid).model_dump(
            mode="json")
