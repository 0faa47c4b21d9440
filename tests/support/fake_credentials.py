"""Credential-shaped values for tests, put together at run time.

The tests need strings that look exactly like a Slack token or an AWS access key id (the secret
judgement and the scrubbing of messages key on those shapes), but a literal of that shape in the
repository looks like a leaked credential to every secret scanner. None of these is real.
"""

from __future__ import annotations

SLACK_BOT_TOKEN_PREFIX = "xo" + "xb-"
AWS_ACCESS_KEY_ID_PREFIX = "AK" + "IA"


def slack_token(rest: str) -> str:
    """A value shaped like a Slack bot token: ``slack_token("test")`` is the prefix plus ``test``."""
    return SLACK_BOT_TOKEN_PREFIX + rest


def aws_access_key_id(rest: str) -> str:
    """A value shaped like an AWS access key id (the prefix plus 16 upper-case letters or digits)."""
    return AWS_ACCESS_KEY_ID_PREFIX + rest
