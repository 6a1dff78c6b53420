"""The labelling web app: a FastAPI server for one project, protected by a random access token.

``label(config)`` serves the page and a small JSON API on 127.0.0.1 and prints one line with the URL
(token included). Every request must carry the token: as ``?token=`` (the first page load; it wins over
the others, so a freshly printed URL always works), in the ``X-Markerless-Token`` header, or in the
cookie the page sets, whose name is specific to this server's token (browsers share cookies across
ports, and a restarted server must not see the old one). Missing token: 401; wrong token: 403. File names are resolved inside the project only, and the server writes nothing but
label files (through :class:`~markerless.app.store.LabelStore`) and, from the track view, identity swaps
of prediction files (through :mod:`markerless.app.tracks`).
"""

from __future__ import annotations

import errno
import hashlib
import secrets
import sys
import threading
import webbrowser
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from markerless.app.store import BadPath, LabelStore, NotFound
from markerless.app.tracks import add_track_routes
from markerless.errors import ConflictError, MarkerlessError, ProjectError
from markerless.project.project import Project

TOKEN_HEADER = "X-Markerless-Token"
TOKEN_COOKIE = "markerless_token"


def token_cookie(token: str) -> str:
    """The name of the cookie holding ``token``: one per server instance."""
    return f"{TOKEN_COOKIE}_{hashlib.sha256(token.encode()).hexdigest()[:12]}"


class PortInUse(ProjectError):
    """The port asked for is taken (another server is running there)."""


_STATIC = {"app.js": "text/javascript", "tracks.js": "text/javascript", "style.css": "text/css"}


class FrameEdit(BaseModel):
    """A frame's labels as the page sends them."""

    version: int
    points: list[list[list[float] | None]]
    occluded: list[list[bool]] | None = None


class Accept(BaseModel):
    """Suggestions to accept: ``cells`` as ``[individual, keypoint]`` pairs, or all unlabelled when None."""

    version: int
    cells: list[tuple[int, int]] | None = None


def _request_token(request: Request, token: str) -> str | None:
    """The token a request carries: the URL's first, then the header's, then this server's cookie."""
    return (
        request.query_params.get("token")
        or request.headers.get(TOKEN_HEADER)
        or request.cookies.get(token_cookie(token))
    )


def _static_text(name: str) -> str:
    return resources.files("markerless.app").joinpath("static", name).read_text(encoding="utf-8")


def create_app(config: str | Path, token: str) -> FastAPI:
    """The app serving ``config``'s project; every route requires ``token``."""

    project = Project.load(config)
    store = LabelStore(project)
    app = FastAPI(title="markerless labelling", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    _guard(app, token)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        page = HTMLResponse(_static_text("index.html"))
        page.set_cookie(token_cookie(token), token, httponly=True, samesite="strict")
        return page

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404, f"No static file {name!r}.")
        return Response(_static_text(name), media_type=_STATIC[name])

    _api(app, project, store)
    add_track_routes(app, project)

    @app.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def unknown(rest: str) -> Response:
        if ".." in rest.split("/"):
            raise BadPath(f"{rest!r} leaves the app.")
        raise HTTPException(404, "No such page.")

    return app


def _guard(app: FastAPI, token: str) -> None:
    """Refuse requests without ``token``; turn our errors into one-line JSON answers."""

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Response:
        given = _request_token(request, token)
        if not given:
            return JSONResponse({"detail": "Access token missing: open the URL printed by 'markerless label'."}, 401)
        if not secrets.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"detail": "Wrong access token: open the URL printed by 'markerless label'."}, 403)
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(MarkerlessError)
    async def user_error(request: Request, err: MarkerlessError) -> JSONResponse:
        if isinstance(err, ConflictError):
            return JSONResponse({"detail": str(err)}, 409)
        if isinstance(err, NotFound):
            return JSONResponse({"detail": str(err)}, 404)
        return JSONResponse({"detail": str(err)}, 400)


def _api(app: FastAPI, project: Project, store: LabelStore) -> None:
    """The JSON API and the images."""

    @app.get("/api/project")
    def project_info() -> dict[str, Any]:
        layout = project.layout
        return {
            "task": project.config.get("Task", ""),
            "scorer": project.scorer,
            "iteration": project.iteration,
            "multi_animal": layout.multi_animal,
            "individuals": list(layout.individual_names),
            "keypoints": list(layout.keypoint_names),
            "valid": layout.valid.tolist(),
            "edges": [[layout.keypoint_index(a), layout.keypoint_index(b)] for a, b in layout.skeleton.edges],
            "dotsize": float(project.config.get("dotsize") or 12),
            "videos": store.videos_summary(),
        }

    @app.get("/api/videos/{video}/frames")
    def frames(video: str) -> list[dict[str, Any]]:
        return store.frames(video)

    @app.get("/api/videos/{video}/frames/{name}")
    def frame(video: str, name: str) -> dict[str, Any]:
        return store.frame(video, name)

    @app.put("/api/videos/{video}/frames/{name}")
    def save_frame(video: str, name: str, edit: FrameEdit) -> dict[str, Any]:
        return store.save_frame(video, name, edit.version, edit.points, edit.occluded)

    @app.post("/api/videos/{video}/frames/{name}/accept")
    def accept(video: str, name: str, body: Accept) -> dict[str, Any]:
        return store.accept_suggestions(video, name, body.version, body.cells)

    @app.get("/api/image/{video}/{name}")
    def image(video: str, name: str) -> FileResponse:
        return FileResponse(store.image_path(video, name))


def serve_url(host: str, port: int, token: str) -> str:
    """The URL to open (token included)."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        host = socket.gethostname()  # reachable name of this machine, for serving on a cluster
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


class AppServer:
    """The app under uvicorn in a background thread (for tests and notebooks); ``stop()`` ends it."""

    def __init__(self, config: str | Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        import socket

        import uvicorn

        self.token = token or secrets.token_urlsafe(24)
        self.app = create_app(config, self.token)
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as err:
            self.sock.close()
            if err.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"Port {port} on {host} is in use (another 'markerless label'?); pass --port 0 to pick a free port."
                ) from None
            raise PortInUse(f"Cannot serve on {host}:{port} ({err.strerror}); try --port 0.") from None
        self.host, self.port = host, self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The URL to open, token included."""
        return serve_url(self.host, self.port, self.token)

    def run(self) -> None:
        """Serve in this thread until interrupted."""
        self.server.run(sockets=[self.sock])

    def start(self) -> AppServer:
        """Serve in a background thread; returns once the server accepts connections."""
        import time

        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("The labelling server did not start.")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()


def _has_display() -> bool:
    """Whether a graphical browser can open here (not over SSH on a headless Linux machine, where
    ``webbrowser`` would start a text browser in the terminal)."""
    import os

    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def label(
    config: str | Path, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, token: str | None = None
) -> None:
    """Serve the labelling app for ``config``'s project until interrupted (Ctrl+C).

    Prints one line with the URL, access token included. ``port=0`` picks a free port. To label on a
    remote machine, keep the default host and forward the port: ``ssh -L 8765:127.0.0.1:8765 cluster``,
    then open the printed URL locally.
    """
    server = AppServer(config, host, port, token)
    print(f"markerless label: open {server.url}", flush=True)
    if open_browser and _has_display():
        threading.Timer(0.5, webbrowser.open, args=(server.url,)).start()
    try:
        server.run()
    finally:
        server.sock.close()
    sys.stdout.flush()
