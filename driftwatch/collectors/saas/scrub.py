"""Keeping the secrets a service is sent out of what driftwatch keeps: answers, documents, messages.

A service may echo the token it was sent (``403 {"message": "token Bearer tok-... lacks scope"}``).
driftwatch knows the token's value (and those of ``headers_env`` and ``params_env``), so it
replaces it wherever it appears by the redactor's keyed hash: the stand-in shows that the token
was there, and that it changed, never what it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from driftwatch.model import JSONValue
from driftwatch.normalise import Redactor


@dataclass(frozen=True)
class Scrubber:
    """Replaces secrets by their stand-ins in bytes, text and JSON documents (no secret: unchanged)."""

    secrets: tuple[tuple[str, str], ...] = ()  # (secret, stand-in)

    @classmethod
    def of(cls, redactor: Redactor, *secrets: str | None) -> Scrubber:
        """The scrubber of ``secrets`` (``None`` or empty ones: nothing to scrub)."""
        return cls(tuple((s, redactor.redact(s)) for s in dict.fromkeys(secrets) if s))

    def text(self, text: str) -> str:
        """``text`` without the secrets, as written, as escaped in a JSON string or in a URL query."""
        for secret, stand_in in self.secrets:
            for form in {secret, json.dumps(secret)[1:-1], quote_plus(secret), quote(secret, safe="")}:
                text = text.replace(form, stand_in)
        return text

    def raw(self, data: bytes) -> bytes:
        """An answer's bytes without the secrets (for the snippets quoted in failure messages)."""
        if not self.secrets:
            return data
        return self.text(data.decode("utf-8", errors="replace")).encode("utf-8")

    def document(self, document: JSONValue) -> JSONValue:
        """A parsed answer with the secrets replaced in every string, keys included.

        Done on the parsed document rather than on the bytes, so that a token written with JSON
        escapes (``\\u0074ok...``) is found too, and a numeric token never breaks the JSON.
        """
        if not self.secrets:
            return document
        if isinstance(document, str):
            return self._replace(document)
        if isinstance(document, list):
            return [self.document(item) for item in document]
        if isinstance(document, dict):
            return {self._replace(key): self.document(value) for key, value in document.items()}
        return document

    def _replace(self, text: str) -> str:
        for secret, stand_in in self.secrets:
            text = text.replace(secret, stand_in)
        return text
