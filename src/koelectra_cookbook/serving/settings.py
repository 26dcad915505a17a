"""What a prediction server is told on its command line (serve.py), checked once, and handed to each worker
process through one environment variable (uvicorn starts workers by importing the app: it passes no objects)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from koelectra_cookbook.errors import UserError

ENVIRONMENT_VARIABLE = "KOELECTRA_SERVE_SETTINGS"


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    model: str
    quantize: str | None = None  # "int8", or None for full precision
    host: str = "127.0.0.1"  # loopback: reachable from other machines only when asked (--host 0.0.0.0)
    port: int = 8080
    workers: int = 1
    # Dynamic batching: requests waiting together run as one batch, up to these bounds (docs/benchmarks.md).
    max_batch_tokens: int = 16384
    max_batch_requests: int = 32
    max_wait_ms: float = 0.0  # none: a batch is what waited while the model was busy (measured best on a CPU)
    # Limits: what a request may ask, and how many may be in the server at once.
    max_concurrent_requests: int = 256
    max_client_batch_size: int = 1024  # texts in one request
    payload_limit: int = 8 * 1024 * 1024  # bytes of one request body
    request_timeout_s: float = 30.0
    batch_size: int | None = None  # rows per model call inside a batch: predict.py's default
    api_key_env: str | None = None  # the environment variable holding the API key, if any
    api_key_file: str | None = None
    log_requests: bool = True

    def check(self) -> ServerSettings:
        whole = {"--port": (self.port, 0, 65535), "--workers": (self.workers, 1, 256),
                 "--max-batch-tokens": (self.max_batch_tokens, 1, None),
                 "--max-batch-requests": (self.max_batch_requests, 1, None),
                 "--max-concurrent-requests": (self.max_concurrent_requests, 1, None),
                 "--max-client-batch-size": (self.max_client_batch_size, 1, None),
                 "--payload-limit": (self.payload_limit, 1, None)}
        for option, (value, low, high) in whole.items():
            if value < low or (high is not None and value > high):
                raise UserError(f"{option} {value}: must be {low} or more" + (f" and {high} or less" if high else ""))
        if not 0 <= self.max_wait_ms <= 60_000:
            raise UserError(f"--max-wait-ms {self.max_wait_ms}: must be between 0 and 60000")
        if not 0 < self.request_timeout_s <= 3600:
            raise UserError(f"--request-timeout {self.request_timeout_s}: must be more than 0 and at most 3600 s")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError("--batch-size must be at least 1")
        self.api_key()  # a missing key file or an empty key is said before the model loads
        return self

    def api_key(self) -> str | None:
        """The key clients must send as `Authorization: Bearer KEY`, or None: no key asked. Read from an
        environment variable or a file, never from the command line (where `ps` would show it to everyone)."""
        if self.api_key_env is not None:
            key = os.environ.get(self.api_key_env)
            if key is None:
                raise UserError(f"--api-key-env {self.api_key_env}: that environment variable is not set")
            where = f"the environment variable {self.api_key_env}"
        elif self.api_key_file is not None:
            try:
                key = Path(self.api_key_file).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"--api-key-file {self.api_key_file}: cannot read it "
                                f"({exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'})") from None
            where = f"--api-key-file {self.api_key_file}"
        else:
            return None
        if len(key.strip()) < 8 or not key.isprintable():
            raise UserError(f"{where}: the API key must be at least 8 printable characters")
        return key.strip()

    def to_environment(self) -> None:
        os.environ[ENVIRONMENT_VARIABLE] = json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_environment(cls) -> ServerSettings:
        return cls(**json.loads(os.environ[ENVIRONMENT_VARIABLE]))
