"""The consultants' knowledge base at its boundary: what managers write, what consultants search and insert, and
what anyone may read (the fee schedule and the doctors' profiles).

An entry is one of five kinds, told apart by ``kind`` (a discriminated union, so the OpenAPI document shows each
kind's own fields). Text may carry the variables ``{surname}``, ``{doctor}`` and ``{department}``, filled when a
consultant inserts the entry into a chat; ``{{`` and ``}}`` stand for literal braces. Any other ``{…}`` is refused
when the entry is saved, naming the field, so nothing that reaches a chat can ask for more than those three values
(``{surname.__class__}`` is just an unknown name here: no ``str.format`` is ever involved).

Validation errors name the field as the client wrote it (``amount_fen``, not ``fee_item.amount_fen``): see
:func:`_untagged`.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core import ValidationError as CoreValidationError

from contracts.intake.consultations import DEPARTMENT_CODE
from wenzhen.fields import Strict, printable

# the variables a template may use, and what the consultant (or the chat) fills in
VARIABLES: dict[str, str] = {
    "surname": "The patient's surname (姓), e.g. 王.",
    "doctor": "The doctor's name, e.g. 李明.",
    "department": "The department's name, e.g. 泌尿外科.",
}
VARIABLE_VALUE_MAX = 64

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


TEXT, VARIABLE = "text", "variable"


def parse_template(text: str) -> list[tuple[str, str]]:
    """``text`` as ``(TEXT, run)`` and ``(VARIABLE, name)`` parts, in order.

    Raises ValueError naming the first unknown variable or stray brace, so a field validator reports it.
    """
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() > pos:
            parts.append((TEXT, text[pos:match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((TEXT, token[0]))
        elif token in ("{", "}"):
            raise ValueError(f"has a stray {token!r} at position {match.start()}: write {token * 2} for a literal "
                             "brace")
        else:
            name = match.group(1)
            if name not in VARIABLES:
                raise ValueError(f"uses the unknown variable {{{name}}}; known: "
                                 + ", ".join(f"{{{v}}}" for v in VARIABLES))
            parts.append((VARIABLE, name))
        pos = match.end()
    if pos < len(text):
        parts.append((TEXT, text[pos:]))
    return parts


def variables_in(text: str) -> list[str]:
    """The variables ``text`` uses, each once, in order of first use."""
    return list(dict.fromkeys(value for part, value in parse_template(text) if part == VARIABLE))


def _template(value: str) -> str:
    parse_template(value)
    return value


def _text_block(value: str) -> str:
    """Line breaks and tabs are fine in a body; other control or format characters (e.g. bidi overrides) are not."""
    if any(unicodedata.category(ch).startswith("C") and ch not in "\n\t" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Line = Annotated[str, AfterValidator(printable)]
Title = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(printable), AfterValidator(_template)]
Body = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_text_block), AfterValidator(_template)]
Condition = Annotated[str, Field(min_length=1, max_length=64, examples=["前列腺炎"]), AfterValidator(printable)]
Department = Annotated[str, Field(pattern=DEPARTMENT_CODE, examples=["urology"])]
Tag = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(printable)]
Tags = Annotated[list[Tag], Field(max_length=20), AfterValidator(_unique)]
Fen = Annotated[int, Field(strict=True, ge=0, le=100_000_000, description="Integer fen (1 yuan = 100 fen).",
                           examples=[1000])]


class Kind(StrEnum):
    reply_template = "reply_template"  # a reply a consultant inserts, e.g. the hedged scope statement
    care_tip = "care_tip"  # 温馨提示 for a condition
    fee_item = "fee_item"  # a line of the base fee schedule, quotable to patients
    doctor_profile = "doctor_profile"  # a doctor's public profile
    programme = "programme"  # a current programme (e.g. a free screening day), valid between two dates


# what managers write --------------------------------------------------------------------------------------------------
class _Entry(Strict):
    title: Title = Field(description="Short heading consultants search by; for a doctor's profile, the doctor's name.",
                         examples=["前列腺炎温馨提示"])
    body: Body = Field(description="The text, with {surname}, {doctor}, {department} where the chat fills them in; "
                                   "{{ and }} for literal braces.")
    condition: Condition | None = Field(default=None, description="Disease or condition the entry is about.")
    department: Department | None = Field(default=None, description="Department code; absent: any department.")
    tags: Tags = Field(default_factory=list)
    language: Literal["zh", "en"] = "zh"
    internal_note: Annotated[str, Field(max_length=1000), AfterValidator(_text_block)] | None = Field(
        default=None, description="For staff only; never shown in the public fee schedule or profiles.")


class ReplyTemplateEntry(_Entry):
    """A reply a consultant inserts into a chat, e.g. the hedged scope statement or the closing wish."""

    kind: Literal["reply_template"]


class CareTipEntry(_Entry):
    """温馨提示: advice for a condition, part of a good reply."""

    kind: Literal["care_tip"]
    condition: Condition = Field(description="The condition the tip is for.")


class FeeItemEntry(_Entry):
    """A line of the base fee schedule: public, quoted to patients. Treatment costs depend on the examination."""

    kind: Literal["fee_item"]
    amount_fen: Fen
    unit: Annotated[str, Field(min_length=1, max_length=16, examples=["次"]), AfterValidator(printable)]


class DoctorProfileEntry(_Entry):
    """A doctor's public profile (the title is the doctor's name, the body the introduction)."""

    kind: Literal["doctor_profile"]
    doctor_id: str = Field(pattern=r"^acc_[0-9A-HJKMNP-TV-Z]{26}$", description="The doctor's staff account id.")
    professional_title: Annotated[str, Field(min_length=1, max_length=32, examples=["主任医师"]),
                                  AfterValidator(printable)] = Field(description="职称.")
    expertise: Annotated[list[Annotated[str, Field(min_length=1, max_length=64), AfterValidator(printable)]],
                         Field(max_length=20), AfterValidator(_unique)] = Field(default_factory=list,
                                                                                examples=[["慢性前列腺炎"]])
    sex: Literal["male", "female"] | None = Field(default=None, description="For patients who prefer a doctor of "
                                                                        "their own sex (FHIR administrative gender).")


class ProgrammeEntry(_Entry):
    """A current programme of the hospital, valid from one local date to another (both included)."""

    kind: Literal["programme"]
    valid_from: date
    valid_until: date

    @field_validator("valid_until")
    @classmethod
    def _not_before_start(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("valid_from")
        if start is not None and value < start:
            raise ValueError("must not be before valid_from")
        return value


class _Revised(BaseModel):
    revision: int = Field(strict=True, ge=1, description="The revision the change was made on (as read); a newer "
                                                         "one stored meanwhile makes the change a conflict (409).")


class ReplyTemplateChange(ReplyTemplateEntry, _Revised):
    pass


class CareTipChange(CareTipEntry, _Revised):
    pass


class FeeItemChange(FeeItemEntry, _Revised):
    pass


class DoctorProfileChange(DoctorProfileEntry, _Revised):
    pass


class ProgrammeChange(ProgrammeEntry, _Revised):
    pass


_TAGS = frozenset(Kind)


def _untagged(data: Any, handler):
    """Validation errors of a kind's fields named as the client wrote them (``amount_fen``, not
    ``fee_item.amount_fen``); an unknown or missing kind named ``kind``."""
    try:
        return handler(data)
    except ValidationError as exc:
        errors: list[InitErrorDetails] = []
        for err in exc.errors():
            loc = err["loc"]
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                errors.append(InitErrorDetails(
                    type=PydanticCustomError("kind", "must be one of: {kinds}", {"kinds": ", ".join(Kind)}),
                    loc=("kind",), input=data.get("kind") if isinstance(data, dict) else data))
                continue
            if loc and loc[0] in _TAGS:
                loc = loc[1:]
            detail = InitErrorDetails(type=err["type"], loc=loc, input=err["input"])
            if "ctx" in err:
                detail["ctx"] = err["ctx"]
            errors.append(detail)
        raise CoreValidationError.from_exception_data(exc.title, errors) from None


EntryUnion = Annotated[ReplyTemplateEntry | CareTipEntry | FeeItemEntry | DoctorProfileEntry | ProgrammeEntry,
                       Field(discriminator="kind")]
ChangeUnion = Annotated[ReplyTemplateChange | CareTipChange | FeeItemChange | DoctorProfileChange | ProgrammeChange,
                        Field(discriminator="kind")]


class ArticleInput(RootModel[EntryUnion]):
    """A new knowledge-base entry; ``kind`` says which fields apply."""

    @model_validator(mode="wrap")
    @classmethod
    def _names(cls, data: Any, handler):
        return _untagged(data, handler)


class ArticleChange(RootModel[ChangeUnion]):
    """The whole entry as it should now read, with the ``revision`` it was read at. The kind cannot change."""

    @model_validator(mode="wrap")
    @classmethod
    def _names(cls, data: Any, handler):
        return _untagged(data, handler)


# what consultants ask -------------------------------------------------------------------------------------------------
class KnowledgeQuery(Strict):
    q: str | None = Field(default=None, max_length=100, description="Words to find in title, body, condition or tags "
                                                                    "(substrings: Chinese has no word boundaries); "
                                                                    "every word must occur. Title matches first.")
    kind: Kind | None = None
    department: Department | None = None
    condition: Condition | None = Field(default=None, description="Exactly this condition.")
    include_retired: bool = Field(default=False, description="Also retired entries and programmes that have ended.")
    limit: int = Field(default=20, ge=1, le=100)


class RenderRequest(Strict):
    values: dict[Literal["surname", "doctor", "department"],
                 Annotated[str, Field(min_length=1, max_length=VARIABLE_VALUE_MAX), AfterValidator(printable)]] = Field(
        default_factory=dict, description="A value for each variable the text uses.",
        examples=[{"surname": "王", "department": "泌尿外科"}])


class Rendered(BaseModel):
    text: str


class PublicQuery(Strict):
    department: Department | None = None


# what they get back ---------------------------------------------------------------------------------------------------
class _Meta(BaseModel):
    id: str
    revision: int = Field(description="Send it back with a change.")
    status: Literal["live", "retired"]
    created_at: str = Field(description="In the hospital's time zone.")
    created_by: str
    updated_at: str
    updated_by: str
    retired_at: str | None = None
    retired_by: str | None = None


class ReplyTemplateArticle(ReplyTemplateEntry, _Meta):
    pass


class CareTipArticle(CareTipEntry, _Meta):
    pass


class FeeItemArticle(FeeItemEntry, _Meta):
    pass


class DoctorProfileArticle(DoctorProfileEntry, _Meta):
    pass


class ProgrammeArticle(ProgrammeEntry, _Meta):
    pass


Article = ReplyTemplateArticle | CareTipArticle | FeeItemArticle | DoctorProfileArticle | ProgrammeArticle
ARTICLE_VIEWS: dict[str, type[BaseModel]] = {
    Kind.reply_template: ReplyTemplateArticle, Kind.care_tip: CareTipArticle, Kind.fee_item: FeeItemArticle,
    Kind.doctor_profile: DoctorProfileArticle, Kind.programme: ProgrammeArticle,
}


class FeeScheduleItem(BaseModel):
    """A line of the public base fee schedule."""

    id: str
    title: str = Field(examples=["普通门诊诊查费"])
    body: str
    department: str | None = Field(default=None, description="Department code; absent: hospital-wide.")
    condition: str | None = None
    amount_fen: int = Field(description="Integer fen (1 yuan = 100 fen).")
    unit: str = Field(examples=["次"])
    language: str
    updated_at: str


class PublicDoctorProfile(BaseModel):
    """A doctor's public profile: the profile fields only (no internal note, no editors' ids).

    Here ``title`` is the professional title (职称) and ``name`` the entry's title, so a profile also serves where
    the triage advice expects ``doctor_id``, ``department``, ``title``, ``expertise`` and ``sex``.
    """

    id: str
    doctor_id: str
    name: str = Field(description="The doctor's name (the entry's title).", examples=["李明"])
    title: str = Field(description="Professional title (职称).", examples=["主任医师"])
    department: str | None = None
    expertise: list[str]
    sex: str | None = None
    introduction: str = Field(description="The entry's body.")
    language: str
