"""What an `sdlab serve` operator decides: where it listens, the key, the folders, the limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from sdlab.errors import UsageError


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    api_key: str | None = None
    insecure_no_auth: bool = False
    data_dir: Path = Path("sdlab-data")
    models_dir: Path | None = None  # names clients may ask for besides the embedded model (default $SDLAB_MODELS)
    lora_dir: Path | None = None  # names <lora:...> tags and `loras` may use (default $SDLAB_LORAS)
    allow_hub: bool = False  # whether a client may name a hub id (downloaded by the server)
    max_queued: int = 100
    keep_days: float | None = None  # finished jobs and their images are deleted after this long; None keeps them
    max_body_bytes: int = 32 * 1024 * 1024
    max_side: int = 2048
    max_steps: int = 150
    max_images: int = 16  # batch size x batch count
    max_sweep_cells: int = 64  # cells of one sweep job

    @property
    def keep_seconds(self) -> float | None:
        return self.keep_days * 86400 if self.keep_days is not None else None

    @property
    def models_folder(self) -> Path:
        from sdlab.engine.sources import models_dir

        return Path(self.models_dir) if self.models_dir is not None else models_dir()

    @property
    def loras_folder(self) -> Path:
        from sdlab.engine.lora import lora_dir

        return lora_dir(str(self.lora_dir) if self.lora_dir is not None else None)

    def without_paths(self, message: str) -> str:
        """A message for a client with the server's folders named rather than shown (clients get names, not paths)."""
        for folder, name in ((self.loras_folder, "the LoRA folder"), (self.models_folder, "the models folder"),
                             (Path(self.data_dir), "the data folder")):
            for spelling in {str(folder), str(folder.resolve())}:
                message = message.replace(spelling, name)
        return message

    def check(self) -> "ServerConfig":
        """Refuse an address other than loopback without a key (or an explicit --insecure-no-auth)."""
        if not 1 <= self.port <= 65535:
            raise UsageError("port", f"must be between 1 and 65535, got {self.port}")
        if not self.api_key and not self.insecure_no_auth and not _loopback(self.host):
            raise UsageError("host", f"{self.host} is reachable from other machines; give --api-key KEY "
                             "(or --insecure-no-auth if you really mean to serve without one)")
        if self.keep_days is not None and not self.keep_days > 0:
            raise UsageError("keep-days", f"must be more than 0 days, got {self.keep_days}; leave it out to keep every job")
        if self.max_queued < 1:
            raise UsageError("max-queued", f"must be at least 1, got {self.max_queued}")
        for name in ("models_dir", "lora_dir"):
            folder = getattr(self, name)
            if folder is not None and not Path(folder).is_dir():
                raise UsageError(name.replace("_", "-"), f"{folder} is not a folder")
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
