"""Security headers on every response: no framing, no MIME sniffing, no referrer to other
sites, scripts and styles from this site only, and nothing personal kept in caches."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The console's scripts and styles are static files (api/static/); pages hand their figures
# to them as JSON data blocks, so no inline script or style is needed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The OpenAPI pages (public, no personal data) load Swagger UI / ReDoc from their CDN with
# an inline start-up script: they may not be framed, the rest is theirs.
DOCS_POLICY = "frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
DOCS_PATHS = ("/docs", "/redoc")
# Console assets are the same for everyone and may be cached; everything else (console
# pages, exports and downloads, API answers) may carry case or rating data.
CACHEABLE_PREFIX = "/static/"

COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """A pure ASGI middleware: sets the headers on the response start of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        docs = path.startswith(DOCS_PATHS)
        policy = DOCS_POLICY if docs else CONTENT_SECURITY_POLICY
        private = not path.startswith(CACHEABLE_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers[name] = value
                headers["Content-Security-Policy"] = policy
                if private:
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)
