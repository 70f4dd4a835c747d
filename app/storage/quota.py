"""Storage use per owner, exact with deduplication: the sum of the sizes of the owner's blobs
that some object of theirs references — the same bytes uploaded twice count once.

`StorageUse.used_bytes` sums the blobs whose `metadata.counted` is true; a blob is counted when
it is stored or referenced again, and uncounted as soon as no object of its owner references it
(`uncount_unreferenced`, called after every delete that can drop a reference). Each flip of the
flag is one guarded update on the blob, so two racing deletes or reuses change the sum once.

Uploads hold their bytes before each chunk batch is written (`hold`): one guarded `$inc` of
`committed_bytes` (used + held) against the limit, so concurrent uploads never store more than
the limit allows; an upload that would pass it is refused (403) before that batch is written,
and its chunks are dropped. A finished upload turns its hold into use (new bytes) or gives it
back (bytes already stored); one whose bytes go in one batch (most site files) counts them as
use in that batch's `$inc` and gives them back the same way when the blob is not its own. A
process that dies mid-upload leaves a hold (or use) too many, never too few; `genstore quota
check --fix` recomputes every counter.

Raw driver: the counted flag lives on the GridFS file documents (`blobs.files`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from bson import Int64, ObjectId

from app.auth.scoping import blob_filter, owned, owner_id_of
from app.budgets.limits import storage_limit
from app.database import get_db
from app.engine import insert_unless_exists, retrying
from app.errors import StorageQuotaExceeded
from app.storage.leases import UploadLease, leased_shas
from app.webhooks import events
from documents import OWNED_DOCUMENTS
from documents.base import utcnow
from documents.blob import FILES
from documents.budget import StorageUse
from documents.user import User


def files_collection():
    return get_db()[FILES]


async def referenced_shas(owner_id: ObjectId) -> set[str]:
    """Every sha256 an owned document of `owner_id` names through its `blob_fields`, those in
    the trash too: they count until purged."""
    keep: set[str] = set()
    for model in OWNED_DOCUMENTS:
        for path in model.blob_fields:
            values = await owned(model, owner_id, trash="include").distinct(path)
            keep.update(value for value in values if isinstance(value, str))
    return keep


def _first_use(owner_id: ObjectId) -> StorageUse:
    return StorageUse(id=str(owner_id), owner_id=owner_id)


async def _ensure(owner_id: ObjectId) -> None:
    await insert_unless_exists(_first_use(owner_id))


async def _change(
    owner_id: ObjectId,
    *,
    used: int = 0,
    reserved: int = 0,
    limit: int | None = None,
    create: bool = False,
) -> bool:
    """One `$inc` of the owner's counters; with `limit`, only if committed stays within it
    (and then the new total is read back by the same command, for the storage thresholds).
    With `create`, the owner's first change creates the counters."""
    committed = used + reserved
    increments = {"used_bytes": used, "reserved_bytes": reserved, "committed_bytes": committed}
    watched = limit is not None and committed > 0
    total = await owned(StorageUse, owner_id).increment_within(
        str(owner_id),
        increments,
        total="committed_bytes",
        limit=limit,
        first=partial(_first_use, owner_id) if create else None,
        read=watched,
    )
    if total is not None and watched:
        await events.storage_thresholds(
            owner_id,
            before=total - committed,
            after=total,
            limit=limit,  # type: ignore[arg-type]
        )
    return total is not None


class StorageHold:
    """The bytes one upload holds against its owner's limit while it streams."""

    def __init__(self, owner_id: ObjectId, limit: int | None) -> None:
        self.owner_id = owner_id
        self.limit = limit
        self.held = 0  # reserved: bytes of chunks written, their blob not stored yet
        self.counted = 0  # used already: a whole blob's bytes, counted before it is stored

    @classmethod
    async def start(cls, owner: User | ObjectId) -> StorageHold:
        """The caller's user document carries the limit; an owner id costs a read of it."""
        user = owner if isinstance(owner, User) else await User.get(owner)
        return cls(owner_id_of(owner), storage_limit(user) if user is not None else None)

    async def take(self, size: int, *, whole: bool = False) -> None:
        """Hold `size` more bytes, or refuse the upload (403) when they do not fit.

        `whole`: they are all of the upload's bytes, written in one batch (a small file, a
        site's inline content), so they count as use at once and `stored` costs nothing. Use
        that runs ahead of its blob errs high, never low, like a hold."""
        counted = size if whole else 0
        if not await _change(
            self.owner_id,
            used=counted,
            reserved=size - counted,
            limit=self.limit,
            create=True,
        ):
            raise StorageQuotaExceeded(
                f"This upload does not fit in your storage limit of {self.limit} bytes.",
                extensions={"limit_bytes": self.limit},
            )
        self.held += size - counted
        self.counted += counted

    async def stored(self, size: int) -> None:
        """New bytes were stored (their blob is counted): the hold becomes use."""
        if self.held or size != self.counted:
            await _change(self.owner_id, used=size - self.counted, reserved=-self.held)
        self.held = self.counted = 0

    async def give_back(self) -> None:
        if self.held or self.counted:
            await _change(self.owner_id, used=-self.counted, reserved=-self.held)
            self.held = self.counted = 0


async def count_again(owner_id: ObjectId, sha256: str) -> None:
    """An existing blob is referenced again: count it if it was not (its references had all
    been deleted before the sweep removed it)."""
    flipped = await retrying(
        files_collection().find_one_and_update,
        blob_filter(owner_id, {"metadata.sha256": sha256, "metadata.counted": False}),
        {"$set": {"metadata.counted": True}},
    )
    if flipped is not None:
        await _change(owner_id, used=flipped["length"], create=True)


async def uncount_unreferenced(owner_id: ObjectId) -> int:
    """After a delete or a failed write: stop counting the owner's blobs that nothing of theirs
    references any more. The bytes freed.

    Safe against the owner's requests in flight, in the garbage collector's order: (1) list the
    counted blobs, (2) read the live upload leases, (3) read the references, (4) flip each flag
    guarded by the `touches` (1) saw. A request registers the sha256 in its lease before it
    stores or reuses a blob and releases the lease only after writing its reference, so a blob
    that (1) saw is covered by (2) or (3); a reuse after (1) bumps `touches` and the flip
    misses."""
    counted = [
        row
        async for row in files_collection().find(
            blob_filter(owner_id, {"metadata.counted": {"$ne": False}}),
            {"metadata.sha256": 1, "metadata.touches": 1},
        )
    ]
    keep = await leased_shas(owner_id, utcnow())
    keep |= await referenced_shas(owner_id)
    freed = 0
    for row in counted:
        meta = row["metadata"]
        if meta["sha256"] in keep:
            continue
        flipped = await retrying(
            files_collection().find_one_and_update,
            blob_filter(
                owner_id,
                {
                    "_id": row["_id"],
                    "metadata.counted": {"$ne": False},
                    "metadata.touches": meta.get("touches"),
                },
            ),
            {"$set": {"metadata.counted": False}},
        )
        if flipped is not None:
            await _change(owner_id, used=-flipped["length"])
            freed += flipped["length"]
    return freed


@asynccontextmanager
async def upload_lease(owner_id: ObjectId) -> AsyncIterator[UploadLease]:
    """Hold a lease around storing blobs *and* writing the references to them. When the work
    fails (a commit that lost its race, a reference that could not be written), what it stored
    and nothing references stops counting: the counter never holds bytes of failed requests."""
    lease = UploadLease(owner_id)
    try:
        yield lease
    except BaseException:
        await lease.release()
        await uncount_unreferenced(owner_id)
        raise
    await lease.release()


async def uncount_for(user: User | ObjectId) -> None:
    """The hook every delete that can drop a blob reference calls."""
    owner = user if isinstance(user, ObjectId) else ObjectId(str(user.id))
    await uncount_unreferenced(owner)


async def recount(owner_id: ObjectId, *, fix: bool) -> tuple[int, int]:
    """(recorded used bytes, exact used bytes) of one owner; with `fix`, the counted flags and
    the counters are set to the exact values (holds of uploads in flight are dropped)."""
    referenced = await referenced_shas(owner_id)
    exact = 0
    wrong_flags: list[tuple[ObjectId, bool]] = []
    async for row in files_collection().find(blob_filter(owner_id), {"length": 1, "metadata": 1}):
        should = row["metadata"]["sha256"] in referenced
        exact += row["length"] if should else 0
        if row["metadata"].get("counted", True) != should:
            wrong_flags.append((row["_id"], should))
    use = await owned(StorageUse, owner_id).find_one({"_id": str(owner_id)})
    recorded = use.used_bytes if use is not None else 0
    if fix and (wrong_flags or recorded != exact or (use and use.reserved_bytes)):
        for file_id, should in wrong_flags:
            await retrying(
                files_collection().update_one,
                blob_filter(owner_id, {"_id": file_id}),
                {"$set": {"metadata.counted": should}},
            )
        await _ensure(owner_id)
        exact_bytes = Int64(exact)
        await owned(StorageUse, owner_id).update_many(
            {"_id": str(owner_id)},
            {
                "$set": {
                    "used_bytes": exact_bytes,
                    "reserved_bytes": Int64(0),
                    "committed_bytes": exact_bytes,
                }
            },
        )
    return recorded, exact
