"""Keeping a service's own token out of what driftwatch keeps: answers, documents and failure messages.

A service may echo the token it was sent (``403 {"message": "token Bearer tok-... lacks scope"}``).
driftwatch knows the token's value, so it replaces it wherever it appears by the redactor's keyed
hash: the stand-in shows that the token was there, and that it changed, never what it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from driftwatch.model import JSONValue
from driftwatch.normalise import Redactor


@dataclass(frozen=True)
class Scrubber:
    """Replaces one secret by its stand-in in bytes, text and JSON documents (no secret: unchanged)."""

    secret: str | None
    stand_in: str = ""

    @classmethod
    def of(cls, secret: str | None, redactor: Redactor) -> Scrubber:
        """The scrubber of ``secret`` (``None`` or empty: nothing to scrub)."""
        return cls(secret, redactor.redact(secret)) if secret else cls(None)

    def text(self, text: str) -> str:
        """``text`` without the secret, as written or as escaped in a JSON string."""
        if not self.secret:
            return text
        for form in {self.secret, json.dumps(self.secret)[1:-1]}:
            text = text.replace(form, self.stand_in)
        return text

    def raw(self, data: bytes) -> bytes:
        """An answer's bytes without the secret (for the snippets quoted in failure messages)."""
        if not self.secret:
            return data
        return self.text(data.decode("utf-8", errors="replace")).encode("utf-8")

    def document(self, document: JSONValue) -> JSONValue:
        """A parsed answer with the secret replaced in every string, keys included.

        Done on the parsed document rather than on the bytes, so that a token written with JSON
        escapes (``\\u0074ok...``) is found too, and a numeric token never breaks the JSON.
        """
        if not self.secret:
            return document
        if isinstance(document, str):
            return document.replace(self.secret, self.stand_in)
        if isinstance(document, list):
            return [self.document(item) for item in document]
        if isinstance(document, dict):
            return {
                key.replace(self.secret, self.stand_in): self.document(value)
                for key, value in document.items()
            }
        return document
