"""The door of the server, before any route: the API key (the web page's own files excepted), and the body limit.

Pure ASGI (not a `BaseHTTPMiddleware`), so an oversized body found while a route reads it is raised in
that route's own call stack and answered like any other error (413, naming `body`), whether or not the
client declared a Content-Length: no route ever holds more than the limit in memory.
"""

from __future__ import annotations

from sdlab.server.auth import authorized
from sdlab.server.config import ServerConfig
from sdlab.server.errors import TooLarge, error_response
from sdlab.server.ui import is_public

KEY_NEEDED = "a valid API key is needed: Authorization: Bearer KEY (or Basic with the key as password)"


class Guard:
    def __init__(self, app, config: ServerConfig) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        limit = self.config.max_body_bytes
        if not authorized(headers.get("authorization"), self.config.api_key) and not (
                scope["method"] == "GET" and is_public(scope["path"])):
            response = error_response(401, KEY_NEEDED, headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await error_response(413, f"is over {limit} bytes, the most this server takes", "body")(
                scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge("body", f"is over {limit} bytes, the most this server takes")
            return message

        return await self.app(scope, limited_receive, send)
