"""`sdlab serve`: the HTTP server over the job queue (the embedded model by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sdlab.cli import common as c

Opt = typer.Option


def serve(
    host: Annotated[str, Opt(help="Address to listen on; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port.")] = 7860,
    api_key: Annotated[Optional[str], Opt(help="Key every request must carry (Bearer, or Basic password); also $SDLAB_API_KEY.",
                                          envvar="SDLAB_API_KEY")] = None,
    insecure_no_auth: Annotated[bool, Opt("--insecure-no-auth", help="Serve another address without a key.")] = False,
    data_dir: Annotated[Path, Opt(help="Where jobs and their images are kept (SQLite + PNGs).")] = Path("sdlab-data"),
    models_dir: Annotated[Optional[Path], Opt(help="Folder whose models clients may name (default $SDLAB_MODELS).")] = None,
    lora_dir: c.LoraDir = None,
    allow_hub: Annotated[bool, Opt("--allow-hub", help="Let clients name hub ids (the server downloads them).")] = False,
    max_queued: Annotated[int, Opt(help="Jobs that may wait; more get HTTP 429.")] = 100,
    keep_days: Annotated[Optional[float], Opt(help="Delete finished jobs and their images after this many days "
                                                   "(default: keep them all).")] = None,
) -> None:
    """Serve AUTOMATIC1111's /sdapi/v1, OpenAI's /v1/images and sdlab's own job API on the embedded model or yours.

    Examples:\n
      sdlab serve\n
      sdlab serve --host 0.0.0.0 --api-key s3cret --models-dir ./models --lora-dir ./loras
    """
    import uvicorn

    from sdlab.jobs import JobQueue, JobStore
    from sdlab.server.app import create_app
    from sdlab.server.config import ServerConfig

    config = ServerConfig(host=host, port=port, api_key=api_key, insecure_no_auth=insecure_no_auth, data_dir=data_dir,
                          models_dir=models_dir, lora_dir=Path(lora_dir) if lora_dir else None, allow_hub=allow_hub,
                          max_queued=max_queued, keep_days=keep_days).check()
    jobs = JobQueue(c.engine(), JobStore(config.data_dir), config.max_queued, config.keep_seconds).start()
    typer.echo(f"sdlab serving on http://{host}:{port} (jobs in {config.data_dir})", err=True)
    try:
        uvicorn.run(create_app(config, jobs), host=host, port=port, log_level="warning")
    finally:
        jobs.stop()
