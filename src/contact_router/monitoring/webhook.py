"""A webhook receiver for Alertmanager that logs every alert it is sent, one line each.

It stands in for the paging and chat integrations (on-call, supervisors) in the local stack and under
docker-compose, so a person can watch pages arrive, and it is the e2e tests' witness that an alert went
all the way through Prometheus and Alertmanager. Standard library only (see the package docstring).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

DEFAULT_PORT = 9095


@dataclass(frozen=True)
class Notification:
    """One POST from Alertmanager: the URL path it came to and its JSON body (webhook payload v4)."""

    path: str
    payload: dict[str, Any]

    @property
    def receiver(self) -> str:
        return str(self.payload.get("receiver", ""))

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.payload.get("alerts", []))


def describe(notification: Notification) -> list[str]:
    """One human-readable line per alert: when, to whom, firing or resolved, what and the summary."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = []
    for alert in notification.alerts:
        labels = dict(alert.get("labels", {}))
        name = labels.pop("alertname", "?")
        shown = " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        summary = alert.get("annotations", {}).get("summary", "")
        lines.append(f"{now} {notification.receiver or notification.path} {alert.get('status', '?').upper()} {name} {shown}: {summary}")
    return lines


class WebhookReceiver:
    """An HTTP server on its own thread; keeps what it received and appends it to a log."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1", log: Path | None = None,
                 echo: TextIO | None = None) -> None:
        self.notifications: list[Notification] = []
        self._log = log
        self._echo = echo
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming; a health check
                self._reply(200, b"ok\n")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    payload = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._reply(400, b"not JSON\n")
                    return
                receiver.record(Notification(self.path, payload))
                self._reply(200, b"ok\n")

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the alerts are the log
                pass

        return Handler

    def record(self, notification: Notification) -> None:
        lines = describe(notification)
        with self._lock:
            self.notifications.append(notification)
            if self._log is not None:
                self._log.parent.mkdir(parents=True, exist_ok=True)
                with self._log.open("a") as f:
                    f.writelines(line + "\n" for line in lines)
            if self._echo is not None:
                self._echo.writelines(line + "\n" for line in lines)
                self._echo.flush()
            self._lock.notify_all()

    def wait_for(self, match: Callable[[Notification], bool], timeout: float) -> Notification:
        """The first notification (already received or arriving within `timeout` s) that matches."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for n in self.notifications:
                    if match(n):
                        return n
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching notification within {timeout:.0f} s; got {self.notifications}")
                self._lock.wait(left)

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(port: int = DEFAULT_PORT, host: str = "127.0.0.1", log: Path | None = None) -> None:
    """Run in the foreground, printing each alert (and appending it to `log`) until interrupted."""
    receiver = WebhookReceiver(port, host, log, echo=sys.stdout)
    print(f"webhook receiver on http://{host}:{receiver.port}/" + (f", alerts logged to {log}" if log else ""),
          flush=True)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> None:
    """`python -m contact_router.monitoring.webhook`: what deploy/stack runs (no virtualenv needed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args(argv)
    serve(args.port, args.host, args.log)


if __name__ == "__main__":
    main()
