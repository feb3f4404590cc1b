"""Delivery of a reconciliation report: a Slack-compatible webhook and e-mail through SMTP.

What travels is a summary without keys or row values (per pair: counts, drift, what the fix
wrote; integrity findings; errors) plus, by e-mail, the Markdown rendering without sample keys.
The webhook URL (it carries a token) and the SMTP password are secrets: never logged, never
part of an error message. A delivery that fails raises ``ReconcileError``, so the run is recorded
as failed and alerted on; the report is stored before delivery and is never lost.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

from reconcile.model import Report
from reconcile.render import report_to_json
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import Settings

TIMEOUT_S = 20


def summary_lines(run_id: int | None, doc: dict[str, Any]) -> list[str]:
    """The report in a few lines for chat and mail subjects: counts only, never keys or values."""
    tables = doc.get("tables", {})
    drifting = {n: t for n, t in tables.items() if t["source_only"] or t["target_only"] or t["changed"]}
    head = f"SmartSync weekly reconciliation{f' (run {run_id})' if run_id is not None else ''}: "
    head += f"{len(tables)} pairs, {len(drifting)} with drift, max drift {float(doc.get('max_drift_pct', 0)):.2f}%"
    lines = [head]
    fixed = doc.get("fixed", {})
    for name, t in drifting.items():
        wrote = fixed.get(name)
        lines.append(
            f"- {name}: {t['source_only']:,} source-only, {t['target_only']:,} target-only, {t['changed']:,} changed "
            f"({float(t['drift_pct']):.2f}%)" + (f"; fixed {wrote}" if wrote else "")
        )
    for check in doc.get("integrity", []):
        if check["offenders"]:
            lines.append(f"- integrity {check['table']}: {check['check']}: {check['offenders']:,}")
    for name, err in doc.get("errors", {}).items():
        lines.append(f"- ERROR {name}: {err}")
    if run_id is not None:
        lines.append(f"Full report: smartsync reconcile report --run {run_id} --format html")
    return lines


def without_samples(doc: dict[str, Any]) -> dict[str, Any]:
    """The report without sample keys: what may leave the databases."""
    tables = {n: {k: v for k, v in t.items() if k != "samples"} for n, t in doc.get("tables", {}).items()}
    return {**doc, "tables": tables}


def post_webhook(url: str, text: str) -> None:
    body = json.dumps({"text": text}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 — the operator's configured URL
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        msg = f"delivering the report to the webhook failed: {type(exc).__name__}: {reason}"
        raise ReconcileError(msg, hint="check SMARTSYNC_REPORT_WEBHOOK_URL and the network") from None
    if not 200 <= status < 300:
        msg = f"delivering the report to the webhook failed: HTTP {status}"
        raise ReconcileError(msg, hint="check SMARTSYNC_REPORT_WEBHOOK_URL (the token may be revoked)")


def send_mail(settings: Settings, subject: str, text: str, markdown: str) -> None:
    recipients = [r.strip() for r in settings.report_email_to.split(",") if r.strip()]
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.report_email_from or f"smartsync@{settings.smtp_host}"
    msg["To"] = ", ".join(recipients)
    msg.set_content(text + "\n\n" + markdown)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        err = f"delivering the report by e-mail via {settings.smtp_host}:{settings.smtp_port} failed: "
        err += f"{type(exc).__name__}: {first}"
        raise ReconcileError(err, hint="check the SMARTSYNC_SMTP_* settings and SMARTSYNC_REPORT_EMAIL_TO") from None


def deliver_report(settings: Settings, run_id: int | None, report: Report) -> list[str]:
    """Send the report's summary wherever the settings say; returns where it went (``webhook``, ``email``)."""
    from reconcile.stored import render_markdown_doc  # noqa: PLC0415 — rendering only when mailing

    doc = without_samples(report_to_json(report))
    lines = summary_lines(run_id, doc)
    sent = []
    url = settings.report_webhook_url.get_secret_value()
    if url:
        post_webhook(url, "\n".join(lines))
        sent.append("webhook")
    if settings.smtp_host and settings.report_email_to:
        send_mail(settings, lines[0], "\n".join(lines[1:]), render_markdown_doc(run_id, report.generated_at, doc))
        sent.append("email")
    return sent
