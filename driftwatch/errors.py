"""The error hierarchy: every message names the file, key, resource or API call involved."""


class DriftwatchError(Exception):
    """Base of every error driftwatch reports to the user instead of a traceback."""


class ConfigError(DriftwatchError):
    """The configuration file is missing, unreadable or invalid."""


class BaselineError(DriftwatchError):
    """A baseline or guardrail file is malformed."""


class CollectError(DriftwatchError):
    """A collection failed as a whole (for example credentials rejected in an enabled region)."""


class CredentialsRejected(CollectError):
    """AWS rejected the credentials for one call in one region."""

    def __init__(self, message: str, *, api_call: str, region: str, code: str) -> None:
        super().__init__(message)
        self.api_call, self.region, self.code = api_call, region, code


class StoreError(DriftwatchError):
    """The state repository cannot be read or written."""


class LockedError(StoreError):
    """Another driftwatch process holds the state repository."""


class NotifyError(DriftwatchError):
    """A notifier could not deliver its message."""
