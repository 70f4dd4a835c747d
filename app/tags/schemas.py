"""Tags: one normal form (trimmed, inner spaces collapsed, case-folded), so "Work" and " work "
are one tag everywhere."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from app.schemas import StrictInput
from documents.folder import MAX_TAG_LENGTH, MAX_TAGS


def normal_tag(value: str) -> str:
    tag = " ".join(value.split()).casefold()
    if not tag:
        raise ValueError("a tag must have a visible character")
    if len(tag) > MAX_TAG_LENGTH:
        raise ValueError(f"a tag is at most {MAX_TAG_LENGTH} characters")
    if any(ord(ch) < 32 for ch in tag):
        raise ValueError("a tag must not contain control characters")
    return tag


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


TagName = Annotated[
    str, Field(min_length=1, max_length=4 * MAX_TAG_LENGTH), AfterValidator(normal_tag)
]
Tags = Annotated[list[TagName], Field(max_length=MAX_TAGS), AfterValidator(_unique)]


class TagRename(StrictInput):
    name: TagName


class TagCount(BaseModel):
    name: str
    count: int = Field(description="Items (conversations, sites, files) that carry it")


class TagList(BaseModel):
    items: list[TagCount]


class TagChange(BaseModel):
    changed: int = Field(description="Items changed")
