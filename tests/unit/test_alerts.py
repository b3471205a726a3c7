"""Alerts go out through real channels (a local HTTP webhook, a local SMTP server) and are
always recorded in audit.alerts, delivered or not."""

from __future__ import annotations

import json
import socket
import threading
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import duckdb
import pytest

from include.observability.alerts import (
    Alert,
    LogNotifier,
    SlackWebhookNotifier,
    SmtpNotifier,
    notifiers_from_env,
    raise_alert,
)

ALERT = Alert(
    kind="gate_failed",
    message="silver gate failed: X (value 3)",
    dag_id="retail_elt",
    run_id="r1",
    task_id="gate_silver",
)


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Webhook.received, _Webhook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Webhook
    server.shutdown()


def _alerts(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select kind, task_id, message, channels, delivered, delivery_error from audit.alerts"
        ).fetchall()
    finally:
        con.close()


def test_without_channels_an_alert_is_a_log_line_and_a_row(tmp_path, caplog):
    notifiers = notifiers_from_env({})
    assert [n.name for n in notifiers] == ["log"]
    assert raise_alert(ALERT, tmp_path / "w.duckdb", notifiers) is True
    assert "silver gate failed" in caplog.text
    assert _alerts(tmp_path / "w.duckdb") == [
        ("gate_failed", "gate_silver", ALERT.message, "log", True, None)
    ]


def test_slack_webhook_receives_the_alert(tmp_path, webhook):
    url, handler = webhook
    notifiers = notifiers_from_env({"ALERT_SLACK_WEBHOOK_URL": url})
    assert [type(n) for n in notifiers] == [SlackWebhookNotifier]
    assert raise_alert(ALERT, tmp_path / "w.duckdb", notifiers) is True
    assert len(handler.received) == 1 and "gate_silver" in handler.received[0]["text"]
    assert _alerts(tmp_path / "w.duckdb")[0][3:] == ("slack", True, None)


def test_a_broken_channel_is_recorded_and_does_not_raise(tmp_path, webhook):
    url, handler = webhook
    handler.status = 500
    assert raise_alert(ALERT, tmp_path / "w.duckdb", [SlackWebhookNotifier(url), LogNotifier()]) is False
    kind, _, _, channels, delivered, error = _alerts(tmp_path / "w.duckdb")[0]
    assert (kind, channels, delivered) == ("gate_failed", "slack,log", False)
    assert error.startswith("slack:") and "500" in error


def test_smtp_sends_the_alert_to_a_real_smtp_server(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import asyncore
        import smtpd

    received = []

    class Server(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append((mailfrom, rcpttos, data))

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = Server(("127.0.0.1", port), None)
    loop = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.1}, daemon=True)
    loop.start()
    try:
        env = {
            "ALERT_SMTP_HOST": "127.0.0.1",
            "ALERT_SMTP_PORT": str(port),
            "ALERT_EMAIL_TO": "ops@example.org",
        }
        notifiers = notifiers_from_env(env)
        assert [type(n) for n in notifiers] == [SmtpNotifier]
        assert raise_alert(ALERT, tmp_path / "w.duckdb", notifiers) is True
    finally:
        server.close()
    assert received and received[0][1] == ["ops@example.org"]
    assert b"gate_silver" in received[0][2]


def test_smtp_to_a_dead_server_is_recorded_as_undelivered(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens
    notifier = SmtpNotifier(
        {"ALERT_SMTP_HOST": "127.0.0.1", "ALERT_SMTP_PORT": str(port), "ALERT_EMAIL_TO": "a@b"}
    )
    assert raise_alert(ALERT, tmp_path / "w.duckdb", [notifier]) is False
    assert _alerts(tmp_path / "w.duckdb")[0][4] is False
