"""Rendering pages and their htmx fragments (jinja2-fragments): one template per page, each
swappable part a named block whose name is also its DOM id."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request

__all__ = ["htmx_target", "is_htmx", "render"]


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """An htmx request that wants a part of a page (a history restore wants the whole page)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def htmx_target(request: Request[Any, Any, Any], blocks: Collection[str]) -> str | None:
    """The block an htmx request targets, if it is one of `blocks`."""
    if not is_htmx(request):
        return None
    target = request.headers.get("hx-target", "")
    return target if target in blocks else None


def render(
    template_name: str,
    context: Mapping[str, Any],
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMXBlockTemplate:
    """The whole page, or only `block` of it."""
    response: HTMXBlockTemplate = HTMXBlockTemplate(
        template_name=template_name,
        context=dict(context),
        block_name=block,
        status_code=status_code,
        headers=dict(headers or {}),
        media_type="text/html",
    )
    return response
