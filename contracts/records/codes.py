"""The hospital's code lists that records keeps: the ICD-10 subset a diagnosis is coded from and the drug formulary a
prescription is written from. Both ship as data (``services/records/data/``), are loaded once into records' database
and are maintained there by managers (a diagnosis list) and pharmacists (the formulary); each change is a new revision
of the entry, audited. A prescription keeps the formulary entry as it was when signed."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from wenzhen.fields import Strict, printable

IcdCode = Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$", description="An ICD-10 code.",
                               examples=["I10"])]
DrugCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{2,31}$",
                                description="The hospital's drug code (a letter first).", examples=["AMX-250-CAP"])]
Label = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(printable)]
Substance = Annotated[str, Field(pattern=r"^([a-z][a-z -]{1,63}|[A-Z][0-9]{2}[A-Z]{0,2}[0-9]{0,2})$",
                                 description="An active ingredient (lower-case INN, e.g. `amoxicillin`) or an ATC "
                                             "class (e.g. `J01C`, the penicillins).", examples=["amoxicillin"])]
Atc = Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$", description="WHO ATC code, level 5.",
                           examples=["J01CA04"])]


class DiagnosisCode(Strict):
    """A code of the hospital's ICD-10 list (PUT by managers)."""

    name: Label = Field(description="Chinese name (as the doctor and the patient read it).", examples=["原发性高血压"])
    name_en: Label = Field(examples=["Essential (primary) hypertension"])
    chronic: bool = Field(default=False, description="A chronic condition: a long-term prescription (长期处方, up to "
                                                     "12 weeks) may treat it when the doctor states it is stable.")
    active: bool = Field(default=True, description="Retired codes stay readable in old records but code nothing new.")


class DiagnosisCodeEntry(DiagnosisCode):
    code: IcdCode
    revision: int = Field(description="1 as shipped; each change adds one.")


class DrugCategory(StrEnum):
    """Categories the prescribing rules and the retention classes read (处方管理办法)."""

    narcotic = "narcotic"  # 麻醉药品
    psychotropic_1 = "psychotropic_1"  # 第一类精神药品
    psychotropic_2 = "psychotropic_2"  # 第二类精神药品
    toxic = "toxic"  # 医疗用毒性药品
    radioactive = "radioactive"  # 放射性药品
    antimicrobial = "antimicrobial"  # 抗菌药物
    cold_chain = "cold_chain"  # 冷链: stored and shipped at 2–8 °C


class Route(StrEnum):
    oral = "oral"
    sublingual = "sublingual"
    topical = "topical"
    ophthalmic = "ophthalmic"
    nasal = "nasal"
    inhalation = "inhalation"
    rectal = "rectal"
    vaginal = "vaginal"
    subcutaneous = "subcutaneous"
    intramuscular = "intramuscular"
    intravenous = "intravenous"


class Drug(Strict):
    """A formulary entry (PUT by pharmacists)."""

    name: Label = Field(description="Generic name in Chinese.", examples=["阿莫西林胶囊"])
    name_en: Label = Field(examples=["Amoxicillin capsules"])
    ingredient: Substance = Field(description="The active ingredient, lower-case INN (allergies and duplicate "
                                              "therapy are checked on it).")
    atc: Atc
    strength: Label = Field(examples=["0.25 g"])
    form: Label = Field(examples=["capsule"])
    unit: Label = Field(description="What is dispensed and counted in `quantity`.", examples=["盒 (24 粒)"])
    price_fen: int = Field(ge=0, le=10_000_000, description="Price of one unit, integer fen (CNY).")
    routes: list[Route] = Field(min_length=1, max_length=len(Route))
    categories: list[DrugCategory] = Field(default_factory=list, max_length=len(DrugCategory))
    active: bool = Field(default=True, description="Withdrawn drugs stay readable in old prescriptions but are not "
                                                   "prescribed.")


class DrugEntry(Drug):
    code: DrugCode
    revision: int = Field(description="1 as shipped; each change adds one.")


class CodeQuery(Strict):
    q: Annotated[str, Field(min_length=1, max_length=40), AfterValidator(printable)] | None = Field(
        default=None, description="Part of the code or of either name.")
    include_inactive: bool = False
    limit: int = Field(default=50, ge=1, le=500)


class RevisionQuery(Strict):
    revision: int | None = Field(default=None, ge=1, le=2_147_483_647,
                                 description="The revision the change is based on (as read): needed to change an "
                                             "existing entry; leave it out to add a new one.")
