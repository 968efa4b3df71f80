"""Event types and the CloudEvents-style envelope.

A service declares what it publishes as subclasses of :class:`EventData` in its
own ``events.py``; each class names its ``source`` service, its past-tense
``type`` (the AMQP routing key) and a ``version``. A breaking change is a new
type (``<type>_v2``) published alongside the old one, never an edit: the
published schemas are snapshotted under ``docs/events/schemas`` and a test
compares them.
"""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from wenzhen import context, ids
from wenzhen.auth import current_caller
from wenzhen.timez import to_utc_iso, utcnow

SPECVERSION = "1.0"
REGISTRY: dict[tuple[str, str], type[EventData]] = {}


class EventData(BaseModel):
    """The ``data`` of one event type. Subclass per type; fields are the schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: ClassVar[str]
    type: ClassVar[str]
    version: ClassVar[int] = 1
    personal_data: ClassVar[tuple[str, ...]] = ()  # fields that carry personal data

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            key = (cls.source, cls.type)
            if key in REGISTRY and REGISTRY[key] is not cls:
                raise TypeError(f"event type {key} declared twice")
            REGISTRY[key] = cls

    @classmethod
    def schema_id(cls) -> str:
        return f"urn:wenzhen:events:{cls.source}:{cls.type}:v{cls.version}"

    @classmethod
    def json_schema(cls) -> dict:
        schema = cls.model_json_schema(mode="serialization")
        # Readers must tolerate fields added later (additive changes keep the version).
        schema.pop("additionalProperties", None)
        schema["$id"] = cls.schema_id()
        schema["x-event-source"] = cls.source
        schema["x-event-type"] = cls.type
        schema["x-event-version"] = cls.version
        if cls.personal_data:
            schema["x-personal-data"] = list(cls.personal_data)
        return schema


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes plus correlation and causation ids and the actor (extensions).

    ``sequence`` (a CloudEvents extension) numbers the events of one subject
    (aggregate) from 1, so subscribers can see order per aggregate.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    source: str
    type: str
    specversion: str = SPECVERSION
    time: str
    subject: str
    datacontenttype: str = "application/json"
    dataschema: str
    correlationid: str | None = None
    causationid: str | None = None
    actorid: str | None = None  # who caused it: an account id (acc_…) or a service name; never a person's name
    actorrole: str | None = None  # the account's role, or "service"
    sequence: int | None = Field(default=None, ge=1)
    data: dict[str, Any]

    @classmethod
    def wrap(cls, data: EventData, subject: str) -> Envelope:
        """A new envelope for ``data``, taking correlation and causation from the current context."""
        principal = current_caller().principal
        return cls(
            id=ids.new_id("evt"),
            source=f"/wenzhen/{data.source}",
            type=data.type,
            time=to_utc_iso(utcnow()),
            subject=subject,
            dataschema=data.schema_id(),
            correlationid=context.request_id(),
            causationid=context.causation_id(),
            actorid=principal.sub or None,
            actorrole=(principal.role.value if principal.role else principal.kind) if principal.authenticated else None,
            data=data.model_dump(mode="json"),
        )

    @property
    def service(self) -> str:
        return self.source.rsplit("/", 1)[-1]

    def parsed(self) -> EventData:
        """The typed data, validated against this type's schema (its class from the registry)."""
        cls = REGISTRY.get((self.service, self.type))
        if cls is None:
            raise LookupError(f"unknown event type {self.service}.{self.type}")
        return self.parsed_as(cls)

    def parsed_as(self, cls: type[EventData]) -> EventData:
        """The data as ``cls`` — a tolerant reader: fields added by a newer publisher are ignored, not refused."""
        if (cls.source, cls.type) != (self.service, self.type):
            raise LookupError(f"a {self.service}.{self.type} event is not a {cls.source}.{cls.type}")
        return cls.model_validate({k: v for k, v in self.data.items() if k in cls.model_fields})
