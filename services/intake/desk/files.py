"""Photos, short videos and documents shared in a consultation: what is kept of one. What a file is and whether it
is accepted is ``wenzhen.files`` (by its first bytes); the store keeps the accepted ones encrypted
(``store.DeskStore.put_file``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredFile:
    """A file kept for a consultation (its bytes are the store's, encrypted)."""

    id: str
    consultation_id: str
    name: str
    content_type: str
    kind: str
    size: int
    uploaded_at: datetime

    def summary(self) -> dict:
        """What a message says of it."""
        return {"id": self.id, "name": self.name, "content_type": self.content_type, "size": self.size}

