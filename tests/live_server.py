"""A real sdlab server (uvicorn) on a free local port, in a thread, for tests that drive it with real clients."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import uvicorn

from sdlab.jobs import JobQueue
from sdlab.server.app import create_app
from sdlab.server.config import ServerConfig


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(config: ServerConfig, jobs: JobQueue):
    """Serve `jobs` with `config` (its port) until the block ends; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(config, jobs), host="127.0.0.1", port=config.port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)
