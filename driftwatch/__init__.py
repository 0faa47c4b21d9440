"""driftwatch: the history of cloud settings in git, and a word in Slack when they drift."""

__version__ = "0.1.0"
