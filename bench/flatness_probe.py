"""`python -m bench.flatness_probe`: the append target's commands issued raw, in both orders.

The append-flatness row compares medians of the app's appends at messages 1-100 and
19,900-20,000. This probe sends the app's exact findAndModify straight through PyMongo to a fresh
embedded server, first short-then-long and then long-then-short, to separate what the
conversation's length costs from what the server's state and the order cost.
"""

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime

from bson import ObjectId
from pymongo import AsyncMongoClient

from app.embedded_server import EmbeddedServer, free_port
from bench.seeding import seed_long_conversation  # the layout rolls produce


async def main():
    server = EmbeddedServer(tempfile.mkdtemp(), free_port())
    server.start()
    try:
        c = AsyncMongoClient(server.url, tz_aware=True)
        db = c.flat
        owner = ObjectId()
        short = ObjectId()
        now = datetime.now(UTC)
        await db.conversations.insert_one(
            {
                "_id": short,
                "owner_id": owner,
                "messages": [],
                "message_count": 0,
                "archived_count": 0,
                "window_bytes": 0,
                "revision": 0,
                "activity_at": now,
            }
        )
        long_id = ObjectId(await seed_long_conversation(db, owner, 19_899))

        async def series(cid):
            lat = []
            for i in range(100):
                t = time.perf_counter()
                await db.conversations.find_one_and_update(
                    {
                        "owner_id": owner,
                        "_id": cid,
                        "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}],
                    },
                    {
                        "$push": {
                            "messages": {
                                "id": ObjectId(),
                                "role": "user",
                                "content": f"m{i}",
                                "created_at": now,
                            }
                        },
                        "$inc": {"message_count": 1, "revision": 1},
                        "$set": {"activity_at": now},
                    },
                )
                lat.append(time.perf_counter() - t)
            return statistics.median(lat) * 1000

        a = await series(short)
        b = await series(long_id)
        # and again in the other order, on fresh copies
        short2 = ObjectId()
        await db.conversations.insert_one(
            {
                "_id": short2,
                "owner_id": owner,
                "messages": [],
                "message_count": 0,
                "archived_count": 0,
                "window_bytes": 0,
                "revision": 0,
                "activity_at": now,
            }
        )
        long2 = ObjectId(await seed_long_conversation(db, owner, 19_899))
        d = await series(long2)
        e = await series(short2)
        print(
            f"raw findAndModify medians: short {a:.2f} ms, long {b:.2f} ms; reversed order: long {d:.2f} ms, short {e:.2f} ms"
        )
        await c.close()
    finally:
        server.stop()


asyncio.run(main())
