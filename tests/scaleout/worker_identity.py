"""`[core] hostname_callable` for the scale-out test: each process it starts says who it is.

Every task instance records the hostname of the process that ran it. The test's two Celery
workers run on one machine, so the machine's name cannot tell them apart; this callable
returns the name the test gave the worker (LAKEHOUSE_WORKER_NAME).
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("LAKEHOUSE_WORKER_NAME") or socket.getfqdn()
