"""The consultants' knowledge base: entries, search, filling variables, and the public fee schedule and doctors'
profiles (thin adapters over ``services.intake.knowledge``)."""
from __future__ import annotations

from contracts.intake.knowledge import ArticleChange, ArticleInput, KnowledgeQuery, PublicQuery, RenderRequest
from services.intake import knowledge
from wenzhen.errors import validated
from wenzhen.service import rpc


class KnowledgeEntrypoints:
    @rpc
    def search_knowledge(self, query: dict) -> list[dict]:
        valid = validated(KnowledgeQuery, query)
        return [a.model_dump(mode="json") for a in knowledge.search(self.store, self.caller, valid)]

    @rpc
    def create_knowledge_article(self, article: dict) -> dict:
        valid = validated(ArticleInput, article)
        return knowledge.create_article(self.store, self.caller, valid).model_dump(mode="json")

    @rpc
    def get_knowledge_article(self, article_id: str) -> dict:
        return knowledge.get_article(self.store, self.caller, article_id).model_dump(mode="json")

    @rpc
    def update_knowledge_article(self, article_id: str, change: dict) -> dict:
        valid = validated(ArticleChange, change)
        return knowledge.update_article(self.store, self.caller, article_id, valid).model_dump(mode="json")

    @rpc
    def retire_knowledge_article(self, article_id: str) -> dict:
        return knowledge.retire_article(self.store, self.caller, article_id).model_dump(mode="json")

    @rpc
    def render_knowledge_article(self, article_id: str, request: dict) -> dict:
        valid = validated(RenderRequest, request)
        return {"text": knowledge.render_article(self.store, self.caller, article_id, valid.values)}

    @rpc
    def fee_schedule(self, query: dict) -> list[dict]:
        """Public: anyone may read the base fee schedule."""
        valid = validated(PublicQuery, query)
        return [f.model_dump(mode="json") for f in knowledge.fee_schedule(self.store, valid.department)]

    @rpc
    def doctor_profiles(self, query: dict) -> list[dict]:
        """Public: anyone may read the doctors' profiles."""
        valid = validated(PublicQuery, query)
        return [p.model_dump(mode="json") for p in knowledge.doctor_profiles(self.store, valid.department)]
