"""Run Python code inside a lab namespace without a subprocess: a fresh thread joins the
namespace with setns(2) (a thread's network namespace is its own), so sockets it creates
belong to that namespace for good."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(ns: str, fn: Callable[[], T], timeout: float = 30.0) -> T:
    """Run ``fn`` in a fresh thread that has joined network namespace ``ns``; return its
    result (or raise its exception). The thread must end within ``timeout`` s."""
    result: dict[str, Any] = {}

    def body() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{ns}")
    thread.start()
    thread.join(timeout=timeout)
    assert not thread.is_alive(), f"thread in {ns} hung"
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]
