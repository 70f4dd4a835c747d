"""Drawing tutorials for children, in English and German, seeded from `seeds/tutorials/`.

Global (not owned): every user reads them. `total_steps` is derived from `steps` on every write,
and `content_hash` lets the seeder tell unchanged fixtures from edited ones.
"""

from __future__ import annotations

from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel

from documents.base import TimestampedDocument


class Bilingual(BaseModel):
    en: str
    de: str


class TutorialStep(BaseModel):
    number: int
    instruction: Bilingual
    image_url: str | None = None


class Tutorial(TimestampedDocument):
    slug: str
    category: str
    subject: Bilingual
    thumbnail_url: str | None = None
    description: Bilingual
    steps: list[TutorialStep]
    total_steps: int
    content_hash: str

    class Settings:
        name = "tutorials"
        indexes = [
            IndexModel([("slug", ASCENDING)], unique=True, name="slug_unique"),
            IndexModel([("category", ASCENDING), ("slug", ASCENDING)], name="category_slug"),
        ]


class TutorialCard(BaseModel):
    """Projection: a tutorial without its steps, for lists."""

    slug: str
    category: str
    subject: Bilingual
    thumbnail_url: str | None = None
    description: Bilingual
    total_steps: int


class TutorialHash(BaseModel):
    """Projection: what the seeder compares."""

    slug: str
    content_hash: str
