"""Stops are bounded: a real `monitor run` subprocess whose only notification target is an SMTP
server on 127.0.0.1 that accepts connections and never greets, sent SIGTERM while the relay waits
on it. The process must exit 0 well inside Docker's 10 s, and after its `stopped` line nothing
more happens: no log line, no event appended."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time

from test_daemon import ITEMS, Daemon, rss, wait_for, write_config


class SilentSmtp:
    """Accepts TCP connections on 127.0.0.1 and never says a word (no 220 greeting)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, silent

    def close(self):
        self._closed = True
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_sigterm_while_a_send_waits_on_a_silent_smtp_server_exits_within_the_budget_and_nothing_runs_after(
        tmp_path, http_server, json_sink):
    smtp = SilentSmtp()
    try:
        http_server.route("/news.rss", body=rss(ITEMS), content_type="application/rss+xml")
        mailto = f"mailto://monitor@127.0.0.1:{smtp.port}?from=monitor@example.org&to=c@example.org"
        config = write_config(tmp_path, http_server, mailto)
        daemon = Daemon(config, None)
        try:
            wait_for(lambda: smtp.accepted, 30, f"the relay connecting to the silent SMTP server\n{daemon.log()}")
            time.sleep(0.5)  # well inside the send: waiting for a greeting that never comes
            code, took = daemon.terminate(timeout=30)
        finally:
            daemon.kill()
        log = daemon.log()
        assert code == 0, log
        assert took < 10, f"SIGTERM to exit took {took:.1f}s\n{log}"
        lines = daemon.lines()
        assert len(lines) == len(log.splitlines()), f"a log line that is not JSON:\n{log}"
        assert lines[-1]["message"] == "stopped", log
        assert not any("closed database" in line["message"] or line.get("exception") for line in lines), log

        # Nothing ran after `stopped`: wait longer than any send timeout, then nothing was appended.
        with sqlite3.connect(tmp_path / "state" / "events.db") as conn:
            before = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        time.sleep(5)
        with sqlite3.connect(tmp_path / "state" / "events.db") as conn:
            assert conn.execute("SELECT max(seq) FROM events").fetchone()[0] == before
    finally:
        smtp.close()
