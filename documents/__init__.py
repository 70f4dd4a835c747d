"""Beanie documents, one module per aggregate.

`ALL_DOCUMENTS` is what `init_beanie` registers; `OWNED_DOCUMENTS` is derived from it, so the
account export and deletion and blob garbage collection see every owned collection by
construction. `GLOBAL_COLLECTIONS` names the small collections with global unique keys that stay
unsharded (README "Scaling").
"""

from documents.api_key import ApiKey
from documents.base import OwnedDocument
from documents.outbox import OutboxMessage
from documents.rate_limit import RATE_LIMITS_COLLECTION, RATE_LIMITS_INDEXES
from documents.user import ExternalIdentity, User

ALL_DOCUMENTS: list[type] = [
    User,
    ExternalIdentity,
    ApiKey,
    OutboxMessage,
]

OWNED_DOCUMENTS: list[type[OwnedDocument]] = [
    model for model in ALL_DOCUMENTS if issubclass(model, OwnedDocument)
]

GLOBAL_COLLECTIONS = (
    "users",
    "external_identities",
    "api_keys",
    "tutorials",
    "rate_limits",
    "outbox",
)

# Collections written without Beanie (single-operation counters), with their indexes.
RAW_COLLECTION_INDEXES = {RATE_LIMITS_COLLECTION: RATE_LIMITS_INDEXES}
