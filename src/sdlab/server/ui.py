"""The browser UI: plain HTML, CSS and JavaScript shipped in the package (`server/ui/`), served at `/` and `/ui/`.

The page is a front end of the job API like any other client. Its files hold no data, so they are served
without the key (the Guard lets them through); the page asks for the key and sends it with every API call.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

FOLDER = Path(__file__).with_name("ui")
PUBLIC_PREFIXES = ("/ui/",)
PUBLIC_PATHS = ("/",)


def is_public(path: str) -> bool:
    """Whether a path is one of the page's own files, served to anyone who can reach the server."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def ui_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def page() -> FileResponse:
        return FileResponse(FOLDER / "index.html", media_type="text/html")

    return router


def ui_files() -> StaticFiles:
    return StaticFiles(directory=FOLDER)
