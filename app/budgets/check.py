"""`genstore quota check [--fix]`: every user's spend and storage counters recomputed from the
ledger (the usage rollups, exact by their invariant), the open reservations and the blob
references, and compared with what the guards read. Run it while the users are quiet: a
request that lands between its read and its fix is overwritten."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from bson import Int64, ObjectId

from app.auth.scoping import owned
from app.storage import quota
from app.usage.rollups import budget_id, decode_key
from documents.budget import Reservation, SpendBudget
from documents.usage import UsageRollup
from documents.user import User

FIELDS = ("spent_micros", "reserved_micros", "committed_micros")


@dataclass
class Drift:
    user: str
    what: str
    recorded: int
    exact: int


async def _spend_drift(owner: ObjectId, email: str, *, fix: bool) -> list[Drift]:
    exact: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    meta: dict[str, tuple[str, ObjectId | None]] = {}

    def add(month: str, key: ObjectId | None, field: str, amount: int) -> None:
        target = budget_id(owner, month, key)
        meta[target] = (month, key)
        exact[target][field] += amount
        exact[target]["committed_micros"] += amount

    for day in await owned(UsageRollup, owner).find().to_list():
        month = day.day[:7]
        add(month, None, "spent_micros", day.total.cost_micros)
        for name, sums in day.api_key.items():
            key = decode_key(name)
            if key is not None:
                add(month, ObjectId(key), "spent_micros", sums.cost_micros)
    for hold in await owned(Reservation, owner).find().to_list():
        add(hold.month, None, "reserved_micros", hold.amount_micros)
        if hold.api_key_id is not None:
            add(hold.month, ObjectId(hold.api_key_id), "reserved_micros", hold.amount_micros)

    drifts = []
    recorded = {b.id: b for b in await owned(SpendBudget, owner).find().to_list()}
    for target in sorted(set(exact) | set(recorded)):
        stored = recorded.get(target)
        want = exact[target]
        wrong = [f for f in FIELDS if (getattr(stored, f) if stored else 0) != want[f]]
        drifts += [
            Drift(email, f"{f} {target}", getattr(stored, f) if stored else 0, want[f])
            for f in wrong
        ]
        if fix and wrong:
            month, key = meta.get(target, (stored.month if stored else "", None))
            doc = SpendBudget(id=target, owner_id=owner, month=month, api_key_id=key)
            if stored is None:
                await doc.insert()
            await owned(SpendBudget, owner).update_many(
                {"_id": target}, {"$set": {f: Int64(want[f]) for f in FIELDS}}
            )
    return drifts


async def check_quotas(
    *,
    fix: bool,
    email: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Drift]:
    """Every user's counters (or the one with `email`) against their exact values."""
    if email is not None:
        users = await User.find({"email": email.strip().lower()}).to_list()
    else:
        users = await User.find_all().to_list()
    drifts: list[Drift] = []
    for done, user in enumerate(users, start=1):
        owner = ObjectId(str(user.id))
        drifts += await _spend_drift(owner, user.email, fix=fix)
        recorded, exact = await quota.recount(owner, fix=fix)
        if recorded != exact:
            drifts.append(Drift(user.email, "used_bytes", recorded, exact))
        if progress:
            progress(done, len(users))
    return drifts
