"""The search service over HTTP (FastAPI, run by uvicorn): a page at ``/`` and a JSON API.

``GET /search?id=&k=`` and ``POST /search`` (multipart ``image``, optional ``k``) answer
``{"results": [{"id", "distance", "labels"}, ...], "ms"}`` in ascending distance; a bad request gets
a 4xx whose body is ``{"detail": "<one line>"}``. fastapi, uvicorn and python-multipart are the
``serve`` extra, imported only by this module.
"""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations, which name classes
# imported inside create_app, at definition time
import json
from importlib import resources
from typing import Any

from deephash.errors import DeephashError
from deephash.service import BadRequest, SearchService


def create_app(service: SearchService) -> Any:
    """The FastAPI application over one loaded service."""
    try:
        from fastapi import FastAPI, Request, Response
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import HTMLResponse, JSONResponse
        from starlette.concurrency import run_in_threadpool
    except ImportError:
        raise DeephashError("fastapi is not installed (pip install 'deephash[serve]')") from None

    app = FastAPI(title="deephash search", docs_url=None, redoc_url=None)
    page = resources.files("deephash").joinpath("page.html").read_text(encoding="utf-8")

    def answer(body: dict[str, Any]) -> Response:
        return Response(json.dumps(body), media_type="application/json")  # no per-field encoder: faster

    @app.exception_handler(BadRequest)
    def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/info")
    def info() -> Response:
        return answer(service.info())

    @app.get("/search")
    async def search_id(id: str, k: str | None = None) -> Response:
        # on the event loop: a search by id takes about a millisecond, less than a hop to a worker thread
        return answer(service.search_id(id, service.k if k is None else k).json())

    @app.post("/search")
    async def search_image(request: Request) -> Response:
        form = await request.form()
        image, k = form.get("image"), form.get("k")
        if image is None or isinstance(image, str):
            raise BadRequest("expected a multipart field 'image' holding an image file")
        data = await image.read()
        found = await run_in_threadpool(service.search_image, data, service.k if k in (None, "") else k)
        return answer(found.json())

    @app.get("/thumbnail")
    def thumbnail(id: str) -> Response:
        return Response(service.thumbnail(id), media_type="image/png")

    return app


def serve(service: SearchService, host: str, port: int) -> None:
    """Run the app until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise DeephashError("uvicorn is not installed (pip install 'deephash[serve]')") from None
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")
