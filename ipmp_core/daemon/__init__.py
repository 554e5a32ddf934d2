"""ipmpd, the node daemon: the I/O around the engine (one per network namespace).

service.py starts and stops it and owns the state the other modules share; each other
module owns one kind of I/O (see docs/design.md).
"""
