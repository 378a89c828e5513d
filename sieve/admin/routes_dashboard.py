"""The operator's page: GET /dashboard (plain HTML, JS and inline SVG, served from the
package's ``static/`` folder — no CDN, it works offline) and GET /dashboard/series (the
time series it plots, sieve/store/series.py). The page also reads GET /stats (limits,
and a "drift" section when one is there) and GET/POST /review (the review queue).

Reads need no token. The page asks for the admin token once, keeps it in the tab's
sessionStorage and sends it as ``Authorization: Bearer`` on POST /review, so the API's
guard is the same for the page as for any client.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response

from sieve.admin.deps import EngineDep
from sieve.admin.schemas import (
    ActivationMark,
    AuditPoint,
    CostPoint,
    HourShare,
    RunMark,
    Series,
)
from sieve.store.series import dashboard_series

router = APIRouter(prefix="/dashboard", tags=["dashboard"])

STATIC = resources.files("sieve.admin") / "static"
# The page's files and their media types: nothing else is served from the folder.
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


@router.get("", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"))


@router.get("/static/{name}")
def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return Response((STATIC / name).read_text(encoding="utf-8"), media_type=media_type)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@router.get("/series", response_model=Series)
def series(engine: EngineDep, hours: Annotated[int, Query(ge=1, le=24 * 14)] = 24) -> Series:
    found = dashboard_series(engine, hours=hours)
    return Series(
        since=found.since,
        hours=hours,
        share=[
            HourShare(
                hour=b.hour,
                decisions=b.decisions,
                escalated=b.escalated,
                escalated_share=b.escalated_share,
            )
            for b in found.share
        ],
        audit=[
            AuditPoint(
                hour=b.hour,
                audited=b.audited,
                final_accuracy=_ratio(b.final_correct, b.audited),
                student_accuracy=_ratio(b.student_correct, b.audited),
            )
            for b in found.audit
        ],
        cost=[CostPoint(hour=b.hour, requests=b.requests, cost_usd=b.cost_usd) for b in found.cost],
        runs=[
            RunMark(at=r.at, status=r.status, promoted=r.promoted, model_version=r.model_version)
            for r in found.runs
        ],
        activations=[
            ActivationMark(at=a.at, version=a.version, reason=a.reason) for a in found.activations
        ],
        active_at_start=found.active_at_start,
    )
