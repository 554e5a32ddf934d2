"""A consumer of ipmpd's event stream, run in the node's namespace by test_event_stream:
subscribes on a plain socket (so the subscribe reply is seen too), prints the reply and
then each event as one JSON line, until SECONDS have passed or MAX events were read.

    python stream_reader.py SECONDS MAX
"""

from __future__ import annotations

import json
import socket
import sys
import time

from ipmp_core.constants import CONTROL_SOCKET_NAME


def main() -> int:
    seconds, most = float(sys.argv[1]), int(sys.argv[2])
    end = time.monotonic() + seconds
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5.0)
    sock.connect(CONTROL_SOCKET_NAME)
    sock.sendall(json.dumps({"op": "subscribe", "args": {}}).encode() + b"\n")
    reader = sock.makefile("rb")
    print(json.dumps({"reply": json.loads(reader.readline())}), flush=True)
    for _ in range(most):
        left = end - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            line = reader.readline()
        except (TimeoutError, OSError):
            break
        if not line:
            break
        print(line.decode().strip(), flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
