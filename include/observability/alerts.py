"""Alerts: a pluggable notifier for failed tasks and failed gates, and their history.

Channels come from the environment, none from code:

* `ALERT_SLACK_WEBHOOK_URL`: post to a Slack incoming webhook;
* `ALERT_SMTP_HOST` (+ `ALERT_SMTP_PORT`, `ALERT_SMTP_USER`, `ALERT_SMTP_PASSWORD`,
  `ALERT_SMTP_STARTTLS`, `ALERT_EMAIL_FROM`, `ALERT_EMAIL_TO`): send an e-mail.

With neither, the alert is a log line. Whatever the channels, every alert is also a row in
`audit.alerts` (with the channels tried and whether they took it), so alert history can be
queried next to the check results. A channel that fails is logged and recorded; it never
hides the failure that raised the alert.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from include.observability.audit import write_rows

log = logging.getLogger(__name__)

ALERTS_TABLE = "audit.alerts"
ALERTS_DDL = f"""
    create table if not exists {ALERTS_TABLE} (
        raised_at timestamp not null,
        kind varchar not null,
        dag_id varchar,
        run_id varchar,
        task_id varchar,
        interval_start date,
        interval_end date,
        message varchar not null,
        channels varchar not null,
        delivered boolean not null,
        delivery_error varchar
    )
"""


@dataclass(frozen=True)
class Alert:
    kind: str  # task_failed or gate_failed
    message: str
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    interval_start: object = None
    interval_end: object = None

    @property
    def title(self) -> str:
        where = ".".join(p for p in (self.dag_id, self.task_id) if p)
        return f"[lakehouse] {self.kind.replace('_', ' ')}: {where} ({self.run_id})"


class Notifier(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class LogNotifier:
    name = "log"

    def send(self, alert: Alert) -> None:
        log.error("ALERT %s\n%s", alert.title, alert.message)


class SlackWebhookNotifier:
    name = "slack"

    def __init__(self, url: str, timeout: float = 10.0):
        self.url, self.timeout = url, timeout

    def send(self, alert: Alert) -> None:
        body = json.dumps({"text": f"*{alert.title}*\n{alert.message[:3000]}"}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise RuntimeError(f"Slack webhook answered HTTP {response.status}")


class SmtpNotifier:
    name = "smtp"

    def __init__(self, env: Mapping[str, str]):
        self.host = env["ALERT_SMTP_HOST"]
        self.port = int(env.get("ALERT_SMTP_PORT") or 25)
        self.user = env.get("ALERT_SMTP_USER") or None
        self.password = env.get("ALERT_SMTP_PASSWORD") or None
        self.starttls = (env.get("ALERT_SMTP_STARTTLS") or "false").lower() in ("1", "true", "yes")
        self.sender = env.get("ALERT_EMAIL_FROM") or "lakehouse@localhost"
        self.recipients = [r.strip() for r in env["ALERT_EMAIL_TO"].split(",") if r.strip()]

    def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = (
            alert.title,
            self.sender,
            ", ".join(self.recipients),
        )
        message.set_content(alert.message)
        with smtplib.SMTP(self.host, self.port, timeout=15) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


def notifiers_from_env(env: Mapping[str, str] | None = None) -> list[Notifier]:
    if env is None:
        from include.config import environment

        env = environment()
    notifiers: list[Notifier] = []
    if env.get("ALERT_SLACK_WEBHOOK_URL"):
        notifiers.append(SlackWebhookNotifier(env["ALERT_SLACK_WEBHOOK_URL"]))
    if env.get("ALERT_SMTP_HOST") and env.get("ALERT_EMAIL_TO"):
        notifiers.append(SmtpNotifier(env))
    return notifiers or [LogNotifier()]


def raise_alert(alert: Alert, warehouse_path: Path, notifiers: list[Notifier] | None = None) -> bool:
    """Send `alert` through every configured channel and record it; True if all took it."""
    notifiers = notifiers_from_env() if notifiers is None else notifiers
    errors = []
    for notifier in notifiers:
        try:
            notifier.send(alert)
        except Exception as exc:  # a broken channel must not hide the alert
            log.exception("alert channel %s failed", notifier.name)
            errors.append(f"{notifier.name}: {exc}")
    row = (
        datetime.now(UTC).replace(tzinfo=None),
        alert.kind,
        alert.dag_id,
        alert.run_id,
        alert.task_id,
        alert.interval_start,
        alert.interval_end,
        alert.message,
        ",".join(n.name for n in notifiers),
        not errors,
        "; ".join(errors) or None,
    )
    write_rows(warehouse_path, ALERTS_DDL, ALERTS_TABLE, [row])
    return not errors
