"""Run moto's HTTP server in a background thread, quietly, for the demo and the tests."""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

_MANAGED_POLICIES_ENV = "MOTO_IAM_LOAD_MANAGED_POLICIES"


def reset_moto(endpoint_url: str) -> None:
    """Empty every moto backend behind ``endpoint_url`` (moto's own ``/moto-api/reset``)."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    # Loading AWS's managed policies takes moto well over 10 s on a busy machine.
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


@contextmanager
def running_moto_server(load_aws_managed_policies: bool = True) -> Iterator[str]:
    """Serve a fresh, empty moto account on 127.0.0.1 (a free port); yield its endpoint URL.

    moto keeps its state in process-wide backends, so every server in one process shares
    it: the state is reset on entry and on exit, and servers should not overlap in time.
    ``load_aws_managed_policies`` makes the AWS managed policies (``arn:aws:iam::aws:...``)
    exist, as in a real account; the demo account attaches some of them.
    """
    from moto.server import ThreadedMotoServer

    werkzeug_logger = logging.getLogger("werkzeug")
    previous_level = werkzeug_logger.level
    previous_env = os.environ.get(_MANAGED_POLICIES_ENV)
    # No access-log line per request, and no traceback for a call moto does not implement: the
    # collector reports that call as a coverage gap already.
    werkzeug_logger.setLevel(logging.CRITICAL)
    if load_aws_managed_policies:
        os.environ[_MANAGED_POLICIES_ENV] = "true"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        reset_moto(endpoint_url)
        yield endpoint_url
        reset_moto(endpoint_url)
    finally:
        server.stop()
        if previous_env is None:
            os.environ.pop(_MANAGED_POLICIES_ENV, None)
        else:
            os.environ[_MANAGED_POLICIES_ENV] = previous_env
        werkzeug_logger.setLevel(previous_level)
