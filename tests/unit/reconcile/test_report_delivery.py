"""Stored reports rendered with their drift over time, and delivery to a local webhook and SMTP server."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from pydantic import SecretStr

from reconcile.delivery import deliver_report, summary_lines, without_samples
from reconcile.history import StoredReport, drift_series
from reconcile.model import Report, SchemaDiff, TableDiff
from reconcile.render import report_to_json
from reconcile.stored import render, sparkline, svg_chart
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import Settings

AT = datetime(2026, 12, 6, 3, tzinfo=UTC)
SECRET_HOOK_TOKEN = "T0KEN-never-printed"
SECRET_SMTP_PASSWORD = "smtp-pass-never-printed"


def _report(source_only: int = 3) -> Report:
    diff = TableDiff(
        name="profile_summary",
        source="smart_warehouse.public.profile_360",
        target="smart_citizen.public.profile_summary",
        key=("citizen_id",),
        schema=SchemaDiff(),
        source_rows=100,
        target_rows=100 - source_only,
        source_only=tuple((9000 + i,) for i in range(source_only)),
        target_only=(),
        changed=(),
        unchanged=100 - source_only,
    )
    return Report("weekly", AT, (diff,), fixed={"profile_summary": {"inserted": source_only}})


def _stored() -> StoredReport:
    docs = [(AT - timedelta(days=7 * (3 - i)), report_to_json(_report(n))) for i, n in enumerate((0, 5, 1, 3))]
    return StoredReport(42, AT, docs[-1][1], drift_series(docs))


def test_the_drift_over_time_of_each_pair() -> None:
    stored = _stored()
    assert [n for _, n, _ in stored.series["profile_summary"]] == [0, 5, 1, 3]
    assert sparkline([0, 5, 1, 3]) == "▁█▂▅"
    table = render(stored, "table")
    assert "▁█▂▅" in table and "run 42" in table


def test_html_has_an_inline_svg_chart_per_pair() -> None:
    page = render(_stored(), "html")
    assert page.count("<svg") == 1 and "<polyline" in page and "<script" not in page
    assert "<h3>profile_summary</h3>" in page
    assert svg_chart([]).startswith("<svg")


def test_json_and_markdown_renderings() -> None:
    doc = json.loads(render(_stored(), "json"))
    assert doc["run_id"] == 42 and [p["differing"] for p in doc["drift_over_time"]["profile_summary"]] == [0, 5, 1, 3]
    assert render(_stored(), "markdown").startswith("# reconciliation run 42")
    with pytest.raises(ReconcileError, match="unknown format"):
        render(_stored(), "pdf")


def test_what_leaves_the_database_has_no_keys() -> None:
    doc = without_samples(report_to_json(_report()))
    text = "\n".join(summary_lines(7, doc))
    assert "9000" not in text and "samples" not in json.dumps(doc)
    assert "profile_summary: 3 source-only" in text and "--run 7" in text


# ── delivery against servers the test starts ─────────────────────────────────────────────


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, str]] = []  # noqa: RUF012
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept one message."""

    messages: list[str] = []  # noqa: RUF012

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 localhost test SMTP")
        while line := self.rfile.readline():
            verb = line.decode().strip().upper()
            if verb.startswith(("EHLO", "HELO")):
                self._say("250 localhost")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk.decode())
                type(self).messages.append("".join(data))
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def servers() -> Iterator[tuple[str, int]]:
    _Hook.received.clear()
    _Smtp.messages.clear()
    _Hook.status = 200
    http = HTTPServer(("127.0.0.1", 0), _Hook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    for server in (http, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_address[1]}/services/{SECRET_HOOK_TOKEN}"
    try:
        yield url, smtp.server_address[1]
    finally:
        http.shutdown()
        smtp.shutdown()
        http.server_close()
        smtp.server_close()


def _settings(url: str, smtp_port: int) -> Settings:
    return Settings(
        report_webhook_url=SecretStr(url),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        report_email_from="smartsync@example.org",
        report_email_to="ops@example.org, dr@example.org",
        smtp_password=SecretStr(SECRET_SMTP_PASSWORD),
    )


def test_the_report_reaches_the_webhook_and_the_mailbox(servers: tuple[str, int]) -> None:
    url, port = servers
    sent = deliver_report(_settings(url, port), 42, _report())
    assert sent == ["webhook", "email"]
    assert "SmartSync weekly reconciliation (run 42)" in _Hook.received[0]["text"]
    mail = _Smtp.messages[0]
    assert "To: ops@example.org, dr@example.org" in mail and "profile_summary" in mail
    assert "9000" not in mail and "9000" not in _Hook.received[0]["text"]  # no sample keys leave


def test_a_failed_delivery_is_loud_and_never_shows_the_secret(servers: tuple[str, int]) -> None:
    url, port = servers
    _Hook.status = 500
    with pytest.raises(ReconcileError) as err:
        deliver_report(_settings(url, port), 42, _report())
    assert "HTTP 500" in str(err.value) and SECRET_HOOK_TOKEN not in str(err.value)
    settings = _settings("", 1)  # nothing listens on port 1
    with pytest.raises(ReconcileError) as err:
        deliver_report(settings, 42, _report())
    assert "e-mail" in str(err.value) and SECRET_SMTP_PASSWORD not in str(err.value)
    assert SECRET_SMTP_PASSWORD not in repr(settings) and SECRET_HOOK_TOKEN not in repr(_settings(url, port))
