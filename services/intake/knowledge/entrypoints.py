"""The knowledge base's Nameko entrypoints: thin adapters over ``usecases``. The fee schedule and the doctors'
profiles are public (the gateway mounts them without a role)."""
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
from services.intake.knowledge import usecases
from services.intake.knowledge.store import KnowledgeStore
from wenzhen.service import rpc
from wenzhen.timez import hospital_zone, utcnow


def today():
    return utcnow().astimezone(hospital_zone()).date()


class KnowledgeEntrypoints:
    @property
    def knowledge(self) -> KnowledgeStore:
        return KnowledgeStore(self.store)

    @rpc
    def search_knowledge(self, query: KnowledgeQuery) -> list[Article]:
        return usecases.search(self.knowledge, self.caller, query, today())

    @rpc
    def create_knowledge_article(self, article: ArticleInput) -> Article:
        return usecases.create_article(self.knowledge, self.caller, article, utcnow())

    @rpc
    def get_knowledge_article(self, article_id: str) -> Article:
        return usecases.get_article(self.knowledge, self.caller, article_id)

    @rpc
    def update_knowledge_article(self, article_id: str, change: ArticleChange) -> Article:
        return usecases.update_article(self.knowledge, self.caller, article_id, change, utcnow())

    @rpc
    def retire_knowledge_article(self, article_id: str) -> Article:
        return usecases.retire_article(self.knowledge, self.caller, article_id, utcnow())

    @rpc
    def render_knowledge_article(self, article_id: str, request: RenderRequest) -> Rendered:
        return Rendered(text=usecases.render_article(self.knowledge, self.caller, article_id, request.values,
                                                     today()))

    @rpc
    def fee_schedule(self, query: PublicQuery) -> list[FeeScheduleItem]:
        """Public: anyone may read the base fee schedule."""
        return usecases.fee_schedule(self.knowledge, query.department)

    @rpc
    def doctor_profiles(self, query: PublicQuery) -> list[PublicDoctorProfile]:
        """Public: anyone may read the doctors' profiles."""
        return usecases.doctor_profiles(self.knowledge, query.department)
