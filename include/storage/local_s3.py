"""The local S3-compatible endpoint that stands in for MinIO when there is no Docker.

It is moto's server mode, run from its own virtualenv on 127.0.0.1 at the port of
S3_ENDPOINT_URL. It keeps objects in memory: stopping it empties the buckets (re-run
`make run` to land the files again). The compose stack uses real MinIO instead.

    python -m include.storage.local_s3 start|stop|status
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from include.config import setting, settings


class LocalS3Error(RuntimeError):
    """The local endpoint could not be started or reached."""


def _endpoint() -> tuple[str, str, int]:
    endpoint = setting("S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    url = urlparse(endpoint)
    if url.hostname not in ("127.0.0.1", "localhost"):
        raise LocalS3Error(
            f"S3_ENDPOINT_URL={endpoint} is not on 127.0.0.1: the local stand-in only serves "
            "loopback; point at your MinIO instead and skip `make s3`"
        )
    return endpoint, "127.0.0.1", url.port or 80


def is_up(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        urllib.request.urlopen(endpoint, timeout=timeout).close()
    except urllib.error.HTTPError:
        return True  # it answered: any HTTP status means the server is up
    except OSError:
        return False
    return True


def _pid_file() -> Path:
    return settings().runtime_dir / "s3" / "moto.pid"


def start(moto_server: Path, wait_seconds: float = 30.0) -> str:
    endpoint, host, port = _endpoint()
    if is_up(endpoint):
        return f"local S3 already answering at {endpoint}"
    if not moto_server.exists():
        raise LocalS3Error(f"{moto_server} is missing: run `make setup` first")
    pid_file = _pid_file()
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    log = (pid_file.parent / "moto.log").open("ab")
    proc = subprocess.Popen(
        [str(moto_server), "-H", host, "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalS3Error(f"local S3 exited with code {proc.returncode}; see {log.name}")
        if is_up(endpoint):
            return f"local S3 started at {endpoint} (pid {proc.pid}, log {log.name})"
        time.sleep(0.2)
    proc.terminate()
    raise LocalS3Error(f"local S3 did not answer at {endpoint} within {wait_seconds:.0f}s")


def stop() -> str:
    pid_file = _pid_file()
    if not pid_file.exists():
        return "local S3 is not running (no pid file)"
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    pid_file.unlink()
    return f"local S3 stopped (pid {pid})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--moto-server", type=Path, default=Path(sys.prefix).parent / "s3/bin/moto_server")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            print(start(args.moto_server))
        elif args.action == "stop":
            print(stop())
        else:
            endpoint = _endpoint()[0]
            up = is_up(endpoint)
            print(f"local S3 at {endpoint}: {'up' if up else 'down'}")
            return 0 if up else 1
    except LocalS3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
