"""Console: importing a monitoring component (日常监测, 实地调研, 第三方评估) or an outside 民意
result (a poll, a 蒙速办 figure) for a half-year, its outcome, and the templates to fill in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Generic, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.auth import console_actor
from api.console.web import redirect, render, translate
from api.deps import SessionDep, SettingsDep
from scoring import flows, monitoring, monitoring_template, outside, outside_template
from scoring.models import IMPORTED_COMPONENTS, ImportLayout
from surveys.accounts.access import Actor, Perm
from surveys.core.exceptions import DomainError, InvalidFile, NotFound
from surveys.core.i18n import N_
from surveys.core.models import utcnow
from surveys.core.periods import PERIOD_PATTERN
from surveys.core.table_files import Header

router = APIRouter(prefix="/console", include_in_schema=False)
UPLOAD_MAX = 5 * 1024 * 1024
Manager = Annotated[Actor, Depends(console_actor(Perm.manage))]
T = TypeVar("T")
COMPONENT_PATTERN = "^(" + "|".join(c.value for c in IMPORTED_COMPONENTS) + ")$"


@router.post("/scoring/import", response_class=HTMLResponse)
async def scoring_import(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Manager,
    period: Annotated[str, Form(pattern=PERIOD_PATTERN)],
    component: Annotated[str, Form(max_length=16)],
    file: Annotated[UploadFile, File()],
    force: Annotated[bool, Form()] = False,
) -> Response:
    upload = await _store_upload(file, lambda name, content: flows.import_monitoring(
        session=session, actor=actor, file_name=name, content=content, period=period,
        component=component, now=utcnow(), tz=settings.tz, force=force,
    ))  # fmt: skip
    if upload.imported is None:
        context = {
            "problems": upload.problems, "file": upload.name, "period": period,
            "component": component, "components": IMPORTED_COMPONENTS,
            "out_of_range": upload.out_of_range,
        }  # fmt: skip
        return render(
            request, "console/scoring_import.html", context, actor=actor, status_code=422
        )
    return _redirect_to("/console/scoring/imported", upload.imported)


@dataclass(frozen=True)
class _Upload(Generic[T]):
    """An upload stored (``imported``), or refused: the problems to show, and whether the
    half-year was outside the usual window (the form then offers to confirm it)."""

    name: str
    imported: T | None = None
    problems: list[str] = field(default_factory=list)
    out_of_range: bool = False


async def _store_upload(
    file: UploadFile, store: Callable[[str, bytes], Awaitable[T]]
) -> _Upload[T]:
    """Read an upload (refused over :data:`UPLOAD_MAX`) and store it with ``store(name,
    content)``, a flow."""
    content = await file.read(UPLOAD_MAX + 1)
    name = file.filename or "upload"
    if len(content) > UPLOAD_MAX:
        too_large = translate(N_("console.scoring.too_large"), mb=UPLOAD_MAX // 1024 // 1024)
        return _Upload(name, problems=[too_large])
    try:
        return _Upload(name, await store(name, content))
    except InvalidFile as exc:
        return _Upload(name, problems=exc.problems)
    except DomainError as exc:
        # The refusal's audit row is committed with this response (nothing else is).
        return _Upload(name, problems=[translate(exc.key, **exc.params)],
                       out_of_range=isinstance(exc, monitoring.PeriodOutOfRange))  # fmt: skip


def _redirect_to(path: str, imported: monitoring.Imported | outside.Imported) -> Response:
    """To the page saying what an import stored and which header row it read."""
    header = imported.header
    query = {"id": imported.stored.id, "first": header.first, "row": header.row,
             "sheet": imported.sheet or ""}  # fmt: skip
    return redirect(f"{path}?{urlencode(query)}")


@router.get("/scoring/imported", response_class=HTMLResponse)
async def scoring_imported(
    request: Request,
    session: SessionDep,
    actor: Manager,
    import_id: Annotated[int, Query(alias="id", ge=1)],
    first: Annotated[int, Query(ge=1, le=1_000)] = 1,
    row: Annotated[int, Query(ge=1, le=1_000)] = 1,
    sheet: Annotated[str, Query(max_length=31)] = "",
) -> Response:
    """What an import stored and which header row it read (after the upload's redirect)."""
    stored = await monitoring.get_import(session=session, import_id=import_id)
    if stored is None:
        raise NotFound()
    imported = monitoring.Imported(stored, Header([], first, max(first, row)), sheet or None)
    context = {"imported": stored, "summary": imported.summary(translate)}
    return render(request, "console/scoring_import.html", context, actor=actor)


@router.get("/scoring/template")
async def scoring_template(
    session: SessionDep,
    actor: Manager,
    by: Annotated[ImportLayout, Query()] = ImportLayout.area,
    component: Annotated[str | None, Query(pattern=COMPONENT_PATTERN)] = None,
    fmt: Annotated[str, Query(pattern="^(xlsx|csv)$")] = "xlsx",
) -> Response:
    """The import template of every active unit, with each column's maximum."""
    chosen = monitoring.parse_component(component) if component else None
    file = await monitoring_template.template_download(
        session=session, layout=by, component=chosen, fmt=fmt
    )
    fallback = f"monitoring_template_{by.value}.{fmt}"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file.name)}"
    return Response(file.body, media_type=file.media_type, headers={
        "Content-Disposition": disposition})  # fmt: skip


# Outside 民意 results (a poll, a 蒙速办 figure): a second form on the same page.


@router.post("/scoring/outside", response_class=HTMLResponse)
async def outside_import(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Manager,
    period: Annotated[str, Form(pattern=PERIOD_PATTERN)],
    file: Annotated[UploadFile, File()],
    source: Annotated[str, Form(max_length=400)] = "",
    note: Annotated[str, Form(max_length=8000)] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Store one outside source's results; refused (in Chinese, audited) as a whole."""
    upload = await _store_upload(file, lambda name, content: flows.import_outside(
        session=session, actor=actor, file_name=name, content=content, period=period,
        source_name=source, method_note=note, now=utcnow(), tz=settings.tz, force=force,
    ))  # fmt: skip
    if upload.imported is None:
        context = {"problems": upload.problems, "file": upload.name, "period": period,
                   "source": source, "note": note,
                   "out_of_range": upload.out_of_range}  # fmt: skip
        return render(request, "console/outside_import.html", context, actor=actor,
                      status_code=422)  # fmt: skip
    return _redirect_to("/console/scoring/outside/imported", upload.imported)


@router.get("/scoring/outside/imported", response_class=HTMLResponse)
async def outside_imported(
    request: Request,
    session: SessionDep,
    actor: Manager,
    import_id: Annotated[int, Query(alias="id", ge=1)],
    first: Annotated[int, Query(ge=1, le=1_000)] = 1,
    row: Annotated[int, Query(ge=1, le=1_000)] = 1,
    sheet: Annotated[str, Query(max_length=31)] = "",
) -> Response:
    """What an outside import stored (after the upload's redirect)."""
    stored = await outside.get_import(session=session, import_id=import_id)
    if stored is None:
        raise NotFound()
    imported = outside.Imported(stored, Header([], first, max(first, row)), sheet or None)
    context = {"imported": stored, "summary": imported.summary(translate)}
    return render(request, "console/outside_import.html", context, actor=actor)


@router.get("/scoring/outside/template")
async def outside_template_download(
    session: SessionDep,
    actor: Manager,
    fmt: Annotated[str, Query(pattern="^(xlsx|csv)$")] = "xlsx",
) -> Response:
    """The outside 民意 template: every active unit and one example row."""
    file = await outside_template.template_download(session=session, fmt=fmt)
    disposition = (f"attachment; filename=\"outside_template.{fmt}\"; "
                   f"filename*=UTF-8''{quote(file.name)}")  # fmt: skip
    return Response(file.body, media_type=file.media_type, headers={
        "Content-Disposition": disposition})  # fmt: skip
