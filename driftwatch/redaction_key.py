"""The HMAC key for redacted secrets: from the environment or a key file outside the state repository."""

from __future__ import annotations

import os
import secrets

from driftwatch.config import Config
from driftwatch.errors import ConfigError
from driftwatch.normalise import Redactor


def load_redactor(config: Config) -> Redactor:
    """The redactor for this installation; a new random key file is made on first use."""
    settings = config.redaction
    from_env = os.environ.get(settings.key_env)
    if from_env:
        return Redactor(from_env.encode())
    key_file = settings.key_file  # absolute and outside the state repository (checked at load)
    try:
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return Redactor(key_file.read_text(encoding="utf-8").strip().encode())
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text key"
        raise ConfigError(
            f"{config.path.name}: [redaction] key_file: cannot use {key_file}: {reason} "
            f"(or set the environment variable {settings.key_env})"
        ) from None
