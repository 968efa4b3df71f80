"""The consultants' knowledge base (intake): managers maintain it, consultants and team leads search it and fill in
an entry's variables for a chat; the base fee schedule and the doctors' profiles are public."""
from __future__ import annotations

from contracts.intake.knowledge import (
    Article,
    ArticleChange,
    ArticleInput,
    FeeScheduleItem,
    KnowledgeQuery,
    PublicDoctorProfile,
    PublicQuery,
    Rendered,
    RenderRequest,
)
from gateway.api import Call, Reply
from gateway.app_api import api
from gateway.auth import PUBLIC
from wenzhen.auth import Role

TAGS = ["knowledge"]
READERS = {Role.consultant, Role.team_lead, Role.manager}
EDITORS = {Role.manager}


@api.route("GET", "/v1/knowledge", summary="Search the knowledge base", tags=TAGS, allow=READERS,
           query=KnowledgeQuery, response=list[Article], errors={422: "A parameter is invalid."})
def search_knowledge(call: Call) -> list:
    """Reply templates, care tips (温馨提示), fee items, doctors' profiles and programmes. `q` matches substrings of
    the title, body, condition and tags (every word must occur; case and full-width letters do not matter); entries
    with the words in their title come first. Retired entries and ended programmes only with `include_retired`."""
    return call.rpc("intake", "search_knowledge", call.query.model_dump(mode="json", exclude_none=True))


@api.route("POST", "/v1/knowledge", summary="Add a knowledge-base entry", tags=TAGS, allow=EDITORS,
           request=ArticleInput, response=Article, status=201,
           errors={409: "The doctor has a live profile already, or the knowledge base is full.",
                   422: "A field is invalid, e.g. an unknown {variable} in the body."})
def create_knowledge_article(call: Call) -> Reply:
    """`kind` says which fields apply. Text may use `{surname}`, `{doctor}` and `{department}` (filled when a
    consultant inserts it); `{{` and `}}` are literal braces. Amounts are integer fen."""
    article = call.rpc("intake", "create_knowledge_article", call.body.model_dump(mode="json"))
    return Reply(article, 201, {"Location": f"/v1/knowledge/{article['id']}"})


@api.route("GET", "/v1/knowledge/{article_id}", summary="Get a knowledge-base entry", tags=TAGS, allow=READERS,
           response=Article, errors={404: "No such entry."})
def get_knowledge_article(call: Call, article_id: str) -> dict:
    """Retired entries too (with `retired_at`)."""
    return call.rpc("intake", "get_knowledge_article", article_id)


@api.route("PUT", "/v1/knowledge/{article_id}", summary="Change a knowledge-base entry", tags=TAGS, allow=EDITORS,
           request=ArticleChange, response=Article,
           errors={404: "No such entry.",
                   409: "The entry changed since `revision` (reload it and apply the change again), or it is "
                        "retired.",
                   422: "A field is invalid, or `kind` differs from the entry's."})
def update_knowledge_article(call: Call, article_id: str) -> dict:
    """The whole entry as it should read, with the `revision` it was read at; the answer has the next revision."""
    return call.rpc("intake", "update_knowledge_article", article_id, call.body.model_dump(mode="json"))


@api.route("DELETE", "/v1/knowledge/{article_id}", summary="Retire a knowledge-base entry", tags=TAGS,
           allow=EDITORS, status=204, errors={404: "No such entry."})
def retire_knowledge_article(call: Call, article_id: str) -> Reply:
    """Entries are never deleted: a retired one stays readable by id but no longer shows in searches or the public
    lists. Retiring it again changes nothing."""
    call.rpc("intake", "retire_knowledge_article", article_id)
    return Reply(None, 204)


@api.route("POST", "/v1/knowledge/{article_id}/render", summary="Fill in an entry's variables", tags=TAGS,
           allow=READERS, request=RenderRequest, response=Rendered,
           errors={404: "No such entry.", 409: "The entry is retired, or the programme has ended.",
                   422: "A variable the entry uses has no value (`errors` names it)."})
def render_knowledge_article(call: Call, article_id: str) -> dict:
    """The entry's body with `{surname}`, `{doctor}` and `{department}` replaced by the given values, ready to send
    in a chat. Values the entry does not use are ignored."""
    return call.rpc("intake", "render_knowledge_article", article_id, call.body.model_dump(mode="json"))


@api.route("GET", "/v1/fees", summary="The base fee schedule", tags=TAGS, allow=PUBLIC, query=PublicQuery,
           response=list[FeeScheduleItem], errors={422: "A parameter is invalid."})
def fee_schedule(call: Call) -> list:
    """Every current fee item, hospital-wide ones first, then by department and title; amounts in integer fen. The
    cost of a treatment depends on the examination and is not listed here."""
    return call.rpc("intake", "fee_schedule", call.query.model_dump(mode="json", exclude_none=True))


@api.route("GET", "/v1/doctor-profiles", summary="The doctors' profiles", tags=TAGS, allow=PUBLIC,
           query=PublicQuery, response=list[PublicDoctorProfile], errors={422: "A parameter is invalid."})
def doctor_profiles(call: Call) -> list:
    """Current profiles by department, then name: a neutral order, no doctor is featured."""
    return call.rpc("intake", "doctor_profiles", call.query.model_dump(mode="json", exclude_none=True))
