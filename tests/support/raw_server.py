"""A loopback TCP server that answers each connection with chosen bytes, at a chosen pace.

For the misbehaving services a JSON API test server cannot play: a body sent one byte at a
time, a connection dropped in the middle of the body, an answer that is not HTTP at all.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def raw_server(chunks: Sequence[bytes], pause: float = 0.0) -> Iterator[str]:
    """``http://127.0.0.1:PORT``, answering each connection with ``chunks``, ``pause`` s apart, then
    closing it (the request itself is read and ignored)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                for chunk in chunks:
                    if stop.is_set():
                        return
                    conn.sendall(chunk)
                    time.sleep(pause)
            except OSError:
                return  # the client gave up: that is what some tests wait for

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
