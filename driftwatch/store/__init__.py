"""The state repository: snapshot and baseline files in git. Only this package imports git.

``StateRepo`` is the one object the rest of driftwatch uses; its parts live in the modules here:
``gitrepo`` (reading files and blobs), ``log`` (history), ``commit`` (making commits), ``remote``
(sharing through a git remote) and ``repo`` (locking, recovery and recording a snapshot).
"""

from driftwatch.store.commit import ALWAYS_PACK, MAX_PACKS
from driftwatch.store.gitrepo import BlobFiles, Documents, blob_id
from driftwatch.store.log import CommitInfo, PathCommit
from driftwatch.store.remote import Synced
from driftwatch.store.repo import DIGESTS, OBSERVATIONS, AlsoRecord, Recorded, StateRepo, init_repo

__all__ = [
    "ALWAYS_PACK",
    "DIGESTS",
    "MAX_PACKS",
    "OBSERVATIONS",
    "AlsoRecord",
    "BlobFiles",
    "CommitInfo",
    "Documents",
    "PathCommit",
    "Recorded",
    "StateRepo",
    "Synced",
    "blob_id",
    "init_repo",
]
