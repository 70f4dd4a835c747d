"""Retention: items older than their kind's maximum age (from their last activity) go to the
trash, where `TRASH_DAYS` gives a wrong policy time to be undone before anything is purged.

Policies are read when the job runs, never written into the items, so a changed policy applies
to everything already stored. For each user the effective age of a kind is the stricter of the
administrators' and the user's own; items marked `keep`, items already in the trash and the data
of users under a legal hold are left alone. Each (user, kind) is one update guarded by
`trashed_at: null`, so a run that stops part-way is finished by the next one and two runs at
once move each item once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.auth.scoping import Scope, owned
from app.errors import Unprocessable
from app.lifecycle import service as lifecycle
from app.trash.service import KINDS
from documents.base import utcnow
from documents.retention import RETENTION_KINDS, RetentionPolicy, RetentionRules
from documents.user import User

TRASH_KIND = {
    "conversations": "conversation",
    "sites": "site",
    "files": "file",
    "drawings": "drawing",
    "stories": "story",
    "workflows": "workflow",
    "projects": "project",
}
# The last activity of an item: a conversation's last message, else its last change.
ACTIVITY = {"conversations": "activity_at"}
# What an item holds, for the preview's bytes (kinds without a cheap size count 0).
SIZE = {"conversations": "$window_bytes", "files": "$size", "drawings": "$uploaded_image.size"}


def _expired(kind: str, days: float, now: datetime) -> dict[str, Any]:
    cutoff = now - timedelta(days=days)
    return {ACTIVITY.get(kind, "updated_at"): {"$lt": cutoff}, "keep": {"$ne": True}}


async def get_policy() -> RetentionPolicy:
    return await RetentionPolicy.get("global") or RetentionPolicy()


async def set_policy(admin: User, rules: RetentionRules) -> RetentionPolicy:
    policy = RetentionPolicy(rules=rules, updated_by=admin.id)
    await policy.save()  # one document, replaced whole: the policy is read whole by every run
    await lifecycle.record("retention.policy", actor=admin, user=None, **rules.model_dump())
    return policy


async def set_user_policy(user: User, rules: RetentionRules) -> RetentionRules:
    """A user's own rules may be stricter than the administrators', never looser (422)."""
    admin = (await get_policy()).rules
    for kind in RETENTION_KINDS:
        mine, theirs = rules.days(kind), admin.days(kind)
        if mine is not None and theirs is not None and mine > theirs:
            raise Unprocessable(
                f"`{kind}_days` may not be longer than the {theirs:g} days every account keeps.",
                field=f"body.{kind}_days",
            )
    await User.find_one({"_id": user.id}).update({"$set": {"retention": rules.model_dump()}})
    return rules


def effective(admin: RetentionRules, mine: RetentionRules | None) -> dict[str, float]:
    """Kind → days, the stricter of both; kinds without a limit are absent."""
    days: dict[str, float] = {}
    for kind in RETENTION_KINDS:
        limits = [d for d in (admin.days(kind), mine.days(kind) if mine else None) if d]
        if limits:
            days[kind] = min(limits)
    return days


@dataclass
class Moved:
    user_id: ObjectId
    kind: str
    items: int
    bytes: int = 0


@dataclass
class RetentionReport:
    moved: list[Moved] = field(default_factory=list)
    users: int = 0
    held: int = 0  # users skipped: under a legal hold
    dry_run: bool = False

    @property
    def items(self) -> int:
        return sum(m.items for m in self.moved)

    @property
    def bytes(self) -> int:
        return sum(m.bytes for m in self.moved)


async def preview(admin: User, rules: RetentionRules | None) -> RetentionReport:
    """What `rules` (the current policy when None) would move now; recorded, nothing moved."""
    report = await run_retention(dry_run=True, rules=rules)
    await lifecycle.record("retention.preview", actor=admin, user=None, items=report.items)
    return report


async def run_retention(
    *,
    dry_run: bool,
    actor: User | None = None,
    rules: RetentionRules | None = None,
    on_user: Callable[[int, int], Any] | None = None,
    held: set[ObjectId] | None = None,
) -> RetentionReport:
    """Move what the policy (or `rules`, for a preview) expires into the trash, or with
    `dry_run` count it (items and bytes) without changing anything. `on_user(done, total)`
    after each user: the command line's progress bar."""
    admin = rules if rules is not None else (await get_policy()).rules
    now = utcnow()
    if held is None:  # else the caller read them already
        held = await lifecycle.held_users()
    report = RetentionReport(dry_run=dry_run)
    # Without a policy of the administrators', only users with their own can have a limit.
    anyone = any(admin.days(kind) for kind in RETENTION_KINDS)
    users = await User.find({} if anyone else {"retention": {"$ne": None}}).sort("_id").to_list()
    for number, user in enumerate(users, start=1):
        owner = ObjectId(str(user.id))
        days = effective(admin, getattr(user, "retention", None))
        if days and owner in held:
            report.held += 1
        elif days:
            report.users += 1
            for kind, limit in days.items():
                scope = owned(KINDS[TRASH_KIND[kind]].model, owner)
                moved = await _move(scope, kind, _expired(kind, limit, now), now, dry_run)
                if moved.items:
                    report.moved.append(moved)
        if on_user is not None:
            on_user(number, len(users))
    if not dry_run and report.items:
        await lifecycle.record(
            "retention.apply", actor=actor, user=None, items=report.items, users=report.users
        )
    return report


async def _move(
    scope: Scope[Any], kind: str, expired: dict[str, Any], now: datetime, dry_run: bool
) -> Moved:
    if dry_run:
        size = SIZE.get(kind, 0)
        rows = await scope.model.aggregate(
            [scope.match(expired), {"$group": {"_id": None, "n": {"$sum": 1}, "b": {"$sum": size}}}]
        ).to_list()
        found = rows[0] if rows else {"n": 0, "b": 0}
        return Moved(scope.owner_id, kind, found["n"], found["b"])  # type: ignore[arg-type]
    items = await scope.update_many(expired, {"$set": {"trashed_at": now}})
    return Moved(scope.owner_id, kind, items)  # type: ignore[arg-type]
