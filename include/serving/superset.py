"""Superset on the serving file: set up, serve, and import the dashboards kept as code.

Superset lives in its own virtualenv (.venv/superset); this module drives it from the outside
(its CLI and gunicorn as subprocesses, its REST API over HTTP), so `make superset`, the tests
and the compose stack's init do the same steps:

    python -m include.serving.superset init     # metadata DB, admin user, roles (idempotent)
    python -m include.serving.superset import   # the dashboards, into a running Superset
    python -m include.serving.superset up       # init + serve on 127.0.0.1 + import, foreground
    python -m include.serving.superset init --import  # init, then import through a private
                                                      # server on 127.0.0.1 (compose's init)
    python -m include.serving.superset serve    # gunicorn in the foreground (compose's web)

The dashboards are the YAML bundle under superset/assets/ (databases/, datasets/, charts/,
dashboards/, metadata.yaml: Superset's own export format). `${SERVING_PATH}` in it is
replaced at import by the serving file's path. The import goes through the assets import
API, which overwrites what it finds by UUID: a chart changed in the repo is changed in
Superset on the next import, and nothing is duplicated.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from include.config import PROJECT_ROOT, Settings, environment, settings

ASSETS_DIR = PROJECT_ROOT / "superset" / "assets"
CONFIG_FILE = PROJECT_ROOT / "superset" / "superset_config.py"
SERVING_PLACEHOLDER = "${SERVING_PATH}"
BUNDLE_ROOT = "lakehouse_elt_assets"


@dataclass(frozen=True)
class SupersetSettings:
    home: Path
    host: str
    port: int
    username: str
    password: str
    venv: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def superset_settings(s: Settings | None = None) -> SupersetSettings:
    s = s or settings()
    env = environment()
    venvs = Path(env.get("LAKEHOUSE_VENV_DIR") or PROJECT_ROOT / ".venv")
    return SupersetSettings(
        home=Path(env.get("SUPERSET_HOME") or s.runtime_dir / "superset"),
        host=env.get("SUPERSET_HOST") or "127.0.0.1",
        port=int(env.get("SUPERSET_PORT") or 8088),
        username=env.get("SUPERSET_ADMIN_USERNAME") or "admin",
        password=env.get("SUPERSET_ADMIN_PASSWORD", ""),
        venv=venvs / "superset",
    )


def superset_env(ss: SupersetSettings) -> dict[str, str]:
    env = {k: v for k, v in environment().items() if k != "PYTHONPATH"}
    if not env.get("SUPERSET_SECRET_KEY"):
        raise RuntimeError("SUPERSET_SECRET_KEY is not set (see .env.example)")
    if not ss.password:
        raise RuntimeError("SUPERSET_ADMIN_PASSWORD is not set (see .env.example)")
    env.update(
        {
            "SUPERSET_CONFIG_PATH": str(CONFIG_FILE),
            "SUPERSET_HOME": str(ss.home),
            "FLASK_APP": "superset.app:create_app()",
            "PATH": os.pathsep.join((str(ss.venv / "bin"), env.get("PATH", ""))),
        }
    )
    ss.home.mkdir(parents=True, exist_ok=True)
    return env


def _superset(ss: SupersetSettings, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [ss.bin("superset"), *args], env=superset_env(ss), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"superset {' '.join(args[:2])} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc


def init(ss: SupersetSettings) -> None:
    """Migrate the metadata DB, make sure the admin user exists with the configured password,
    and sync roles and permissions. Safe to repeat."""
    _superset(ss, "db", "upgrade")
    created = _superset(
        ss,
        "fab", "create-admin",
        "--username", ss.username,
        "--firstname", "Lakehouse",
        "--lastname", "Admin",
        "--email", f"{ss.username}@localhost",
        "--password", ss.password,
    )  # fmt: skip
    if "already exist" in (created.stdout + created.stderr).lower():
        # The environment is the source of truth for the password.
        _superset(ss, "fab", "reset-password", "--username", ss.username, "--password", ss.password)
    _superset(ss, "init")


def serve_command(ss: SupersetSettings) -> list[str]:
    return [
        ss.bin("gunicorn"),
        "--bind", f"{ss.host}:{ss.port}",
        "--workers", "2",
        "--worker-class", "gthread",
        "--threads", "4",
        "--timeout", "120",
        "--limit-request-line", "0",
        "--limit-request-field_size", "0",
        "superset.app:create_app()",
    ]  # fmt: skip


def start(ss: SupersetSettings, log_file: Path) -> subprocess.Popen:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = log_file.open("ab")
    return subprocess.Popen(
        serve_command(ss), env=superset_env(ss), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_healthy(ss: SupersetSettings, proc: subprocess.Popen | None = None, timeout: float = 180) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Superset exited with {proc.returncode} before it answered")
        try:
            if requests.get(f"{ss.url}/health", timeout=2).text.strip() == "OK":
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"Superset did not answer on {ss.url}/health within {timeout:.0f}s")


def bundle(serving_path: Path, assets_dir: Path = ASSETS_DIR) -> bytes:
    """The assets as the ZIP the import API takes, with the serving path filled in."""
    files = sorted(p for p in assets_dir.rglob("*.yaml") if p.is_file())
    if not any(p.name == "metadata.yaml" for p in files):
        raise FileNotFoundError(f"{assets_dir} has no metadata.yaml")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            text = path.read_text().replace(SERVING_PLACEHOLDER, str(serving_path))
            archive.writestr(f"{BUNDLE_ROOT}/{path.relative_to(assets_dir).as_posix()}", text)
    return buffer.getvalue()


class SupersetClient:
    """A logged-in API session (JWT + CSRF token), as the REST API expects for writes."""

    def __init__(self, ss: SupersetSettings):
        import requests

        self.base = ss.url
        self.http = requests.Session()
        login = self.http.post(
            f"{self.base}/api/v1/security/login",
            json={"username": ss.username, "password": ss.password, "provider": "db", "refresh": False},
            timeout=30,
        )
        login.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        csrf = self.http.get(f"{self.base}/api/v1/security/csrf_token/", timeout=30)
        csrf.raise_for_status()
        self.http.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": self.base})

    def get(self, path: str, **params) -> dict:
        if params:
            params = {"q": _rison(params)}
        response = self.http.get(f"{self.base}{path}", params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def import_assets(self, data: bytes) -> None:
        response = self.http.post(
            f"{self.base}/api/v1/assets/import/",
            files={"bundle": ("lakehouse_elt_assets.zip", data, "application/zip")},
            data={"passwords": "{}"},
            timeout=300,
        )
        if response.status_code != 200:
            raise RuntimeError(f"assets import failed ({response.status_code}): {response.text[:3000]}")


def _rison(value) -> str:
    """Just enough Rison (Superset's query-string encoding) for flat filters and paging."""
    if isinstance(value, dict):
        return "(" + ",".join(f"{k}:{_rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(_rison(v) for v in value) + ")"
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("!", "!!").replace("'", "!'") + "'"


def import_assets(ss: SupersetSettings, serving_path: Path, assets_dir: Path = ASSETS_DIR) -> None:
    SupersetClient(ss).import_assets(bundle(serving_path, assets_dir))


def init_and_import(s: Settings, ss: SupersetSettings) -> None:
    """init, then import the dashboards through a Superset that only this process can reach
    (127.0.0.1), stopped afterwards: the compose stack's one-shot `superset-init`."""
    init(ss)
    private = replace(ss, host="127.0.0.1")
    proc = start(private, ss.home / "superset-init.log")
    try:
        wait_healthy(private, proc)
        import_assets(private, s.serving_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def up(s: Settings, ss: SupersetSettings) -> int:
    """init, serve, import; stays in the foreground until Ctrl-C (or SIGTERM)."""
    print(f"setting up Superset in {ss.home} ...", flush=True)
    init(ss)
    log_file = ss.home / "superset.log"
    proc = start(ss, log_file)

    def stop(*_):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        wait_healthy(ss, proc)
        import_assets(ss, s.serving_path)
        print(
            f"Superset: {ss.url}  user: {ss.username}  password: SUPERSET_ADMIN_PASSWORD "
            f"(from .env / .env.example)\n  dashboards: {ss.url}/superset/dashboard/sales/ "
            f"| /customers/ | /data-quality/\n  reading {s.serving_path}"
            + ("" if s.serving_path.exists() else " (not there yet: `make demo` or a DAG run publishes it)")
            + f"\n  log: {log_file}; Ctrl-C stops it",
            flush=True,
        )
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m include.serving.superset", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=("init", "import", "up", "serve", "bundle"))
    parser.add_argument("--import", dest="and_import", action="store_true", help="init: import too")
    parser.add_argument("--out", type=Path, help="bundle: write the ZIP here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    s = settings()
    ss = superset_settings(s)
    try:
        if args.command == "init" and args.and_import:
            init_and_import(s, ss)
            print(f"Superset initialised in {ss.home}; dashboards imported (serving file {s.serving_path})")
        elif args.command == "init":
            init(ss)
        elif args.command == "serve":
            os.execvpe(serve_command(ss)[0], serve_command(ss), superset_env(ss))
        elif args.command == "import":
            import_assets(ss, s.serving_path)
            print(f"dashboards imported into {ss.url}")
        elif args.command == "bundle":
            out = args.out or Path("lakehouse_elt_assets.zip")
            out.write_bytes(bundle(s.serving_path))
            print(f"wrote {out}")
        else:
            return up(s, ss)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
