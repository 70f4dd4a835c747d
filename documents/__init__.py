"""Beanie documents, one module per aggregate.

`ALL_DOCUMENTS` is what `init_beanie` registers; `OWNED_DOCUMENTS` is derived from it, so the
account export and deletion and blob garbage collection see every owned collection by
construction. `GLOBAL_COLLECTIONS` names the small collections with global unique keys that stay
unsharded (README "Scaling").
"""

from documents.api_key import ApiKey
from documents.base import OwnedDocument
from documents.blob import BLOB_INDEXES
from documents.budget import Reservation, SpendBudget, StorageUse
from documents.conversation import Conversation, ConversationArchive
from documents.drawing import Drawing
from documents.file import StoredFile
from documents.folder import Folder
from documents.generation import Generation
from documents.import_job import ImportJob
from documents.lifecycle import AuditEntry, LegalHold
from documents.outbox import OutboxMessage
from documents.project import Project
from documents.rate_limit import RateLimitWindow
from documents.retention import RetentionPolicy
from documents.share import Share, ShareSnapshot
from documents.site import Site
from documents.story import Story
from documents.tutorial import Tutorial
from documents.usage import UsageBatch, UsageEvent, UsageRollup
from documents.user import ExternalIdentity, User
from documents.webhook import Delivery, Event, WebhookEndpoint
from documents.workflow import Workflow

ALL_DOCUMENTS: list[type] = [
    User,
    ExternalIdentity,
    ApiKey,
    OutboxMessage,
    Conversation,
    ConversationArchive,
    Project,
    Site,
    StoredFile,
    Folder,
    Generation,
    Workflow,
    UsageEvent,
    UsageRollup,
    UsageBatch,
    SpendBudget,
    Reservation,
    StorageUse,
    Tutorial,
    Drawing,
    Story,
    RateLimitWindow,
    Share,
    ShareSnapshot,
    ImportJob,
    LegalHold,
    AuditEntry,
    RetentionPolicy,
    WebhookEndpoint,
    Event,
    Delivery,
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
    "shares",
    "legal_holds",
    "audit",
    "retention_policies",
)

# Collections that are not Beanie documents (the GridFS bucket), with their indexes.
RAW_COLLECTION_INDEXES = BLOB_INDEXES

# Which document a client-sent `<x>_id` field names; `app.links` checks the caller owns it.
LINKABLE: dict[str, type[OwnedDocument]] = {
    "conversation_id": Conversation,
    "project_id": Project,
    "site_id": Site,
    "file_id": StoredFile,
    "generation_id": Generation,
    "workflow_id": Workflow,
    "drawing_id": Drawing,
}
