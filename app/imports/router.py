from __future__ import annotations

from fastapi import Request, status

from app.auth.dependencies import Access, CurrentUser, SettingsDep
from app.imports import service
from app.imports.schemas import ImportRead, ImportSummary
from app.openapi import multipart_body, problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.uploads import MultipartUpload

router = AreaRouter(prefix="/imports", tags=["imports"], access=Access("conversations"))

UPLOAD_BODY = multipart_body(
    "file",
    format={
        "type": "string",
        "enum": list(service.FORMATS),
        "description": "Skip detection (default: detected from the content)",
    },
    dry_run={"type": "boolean", "description": "Report what would be imported; write nothing"},
)


@router.post(
    "",
    operation_id="imports_create",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportRead,
    openapi_extra=UPLOAD_BODY,
    responses=problems(
        (413, "The file is larger than MAX_IMPORT_BYTES"),
        (415, "Not multipart/form-data"),
        (422, "Not an export this server reads (the problem says what it looked for)"),
    ),
)
async def create_import(request: Request, user: CurrentUser, settings: SettingsDep):
    """A chat-history export (JSON or ZIP) of ChatGPT, Claude, Open WebUI, LibreChat or Chatbot
    UI, imported by a job: poll `GET /imports/{id}`. Re-importing writes nothing twice."""
    upload = MultipartUpload(request, "file", settings.max_import_bytes)
    return ImportRead.of(await service.start_import(user, upload, settings))


@router.get("", operation_id="imports_list", response_model=Page[ImportSummary])
async def list_imports(user: CurrentUser, params: Pagination, settings: SettingsDep):
    page = await service.list_imports(user, params, settings)
    return Page(items=[ImportSummary.of(job) for job in page.items], next_cursor=page.next_cursor)


@router.get("/{import_id}", operation_id="imports_get", response_model=ImportRead)
async def get_import(import_id: str, user: CurrentUser, settings: SettingsDep):
    return ImportRead.of(await service.get_import(user, import_id, settings))
