from __future__ import annotations

from app.auth.dependencies import AdminUser
from app.diagnostics import service
from app.diagnostics.schemas import DoctorReport
from app.routing import AreaRouter

router = AreaRouter(prefix="/admin", tags=["admin"])


@router.get("/engine", operation_id="admin_engine", response_model=DoctorReport)
async def engine(_: AdminUser):
    """The database engine, its capabilities and pool, the declared indexes (present, missing,
    unexpected), documents per collection and migrations: `genstore doctor` as JSON."""
    return await service.diagnose()
