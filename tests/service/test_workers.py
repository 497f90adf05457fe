"""Several service workers behind one Redis: real processes, a real redis-server.

Two ``pmp serve`` processes on their own ports share one database and one Redis (so a test
can talk to "one" and "the other"); ``pmp serve --workers 2`` is started too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_py
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests.cli.conftest import free_port
from tests.redis.conftest import RedisServer

README = Path(__file__).resolve().parents[2] / "README.md"
WRITE_BURST = 20


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module's own (the session's may be stopped by fault tests)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def _env(database: Path, redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PMP_")}
    env.pop("WEB_CONCURRENCY", None)
    env.update(
        PMP_DATABASE_PATH=str(database),
        PMP_ADMIN_SOCKET="",
        PMP_LOG_LEVEL="WARNING",
        PMP_WRITE_RATE_LIMIT=str(WRITE_BURST),
        PMP_WRITE_RATE_PERIOD="3600",  # nothing refills while a test runs
        PMP_WORKER_REPORT_INTERVAL="0.1",
        **extra,
    )
    if redis_url is not None:
        env["PMP_REDIS_URL"] = redis_url
    return env


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "python_mastery_portfolio", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, f"http://127.0.0.1:{port}"


def _wait_up(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # waiting for another process to listen; nothing else to wait on
    process.kill()  # pragma: no cover - failure path
    pytest.fail(f"no server at {base}: {process.communicate()[1].decode()}")  # pragma: no cover


def _stop(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return err.decode()


class Pair:
    """Two workers (``a`` and ``b``: base URLs) on one database and one Redis."""

    def __init__(self, a: str, b: str, redis_url: str) -> None:
        self.a, self.b, self.redis_url = a, b, redis_url

    def reset_limits(self) -> None:
        client = redis_py.Redis.from_url(self.redis_url)
        try:
            names = list(client.scan_iter(match="pmp:ratelimit:*"))
            if names:
                client.delete(*names)
        finally:
            client.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Pair]:
    database = tmp_path_factory.mktemp("pair") / "users.db"  # brand new: both race for it
    env = _env(database, redis_server.url)
    servers = [_start(env), _start(env)]
    try:
        for process, base in servers:
            _wait_up(process, base)
        yield Pair(servers[0][1], servers[1][1], redis_server.url)
    finally:
        errors = [_stop(process) for process, _ in servers]
    for process, _ in servers:
        assert process.returncode == 0, errors
    assert not any("Traceback" in text for text in errors), errors


@pytest.fixture
def workers(pair: Pair) -> Pair:
    pair.reset_limits()
    return pair


def _create(base: str, email: str) -> dict[str, Any]:
    response = httpx.post(f"{base}/users", json={"email": email, "name": "Ada"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestTwoWorkers:
    def test_a_change_on_one_is_seen_at_once_on_the_other(self, workers: Pair) -> None:
        """A PATCH on one worker evicts the user from the other's cache before it answers."""
        with httpx.Client() as http:
            for n in range(5):  # 15 writes, within the burst
                user = _create(workers.a, f"patch{n}@example.org")
                url = f"/users/{user['id']}"
                for _ in range(2):  # the second read is a cache hit on b
                    assert http.get(workers.b + url).json()["name"] == "Ada"
                changed = http.patch(workers.a + url, json={"name": f"Grace {n}"})
                assert changed.status_code == 200
                assert http.get(workers.b + url).json()["name"] == f"Grace {n}"
                assert http.delete(workers.b + url).status_code == 204
                assert http.get(workers.a + url).status_code == 404
        metrics = httpx.get(f"{workers.b}/metrics").json()
        assert metrics["cache"]["hits"] >= 5
        assert metrics["cluster"]["received"] >= 10
        assert metrics["cluster"]["synced"] is True

    def test_the_write_limit_holds_across_both(self, workers: Pair) -> None:
        """Writes alternating between the workers share one bucket: the burst, not twice it."""
        statuses = []
        with httpx.Client() as http:
            for n in range(WRITE_BURST + 6):
                base = workers.a if n % 2 else workers.b
                statuses.append(http.post(f"{base}/users", json={"email": "x"}).status_code)
        assert statuses.count(422) == WRITE_BURST
        assert statuses[WRITE_BURST:] == [429] * 6

    def test_the_read_limit_is_apart_from_the_write_limit(self, workers: Pair) -> None:
        """Reads do not spend the writes' tokens (distinct namespaces)."""
        with httpx.Client() as http:
            for _ in range(WRITE_BURST + 5):
                assert http.get(f"{workers.a}/users/nobody").status_code == 404
            assert http.post(f"{workers.b}/users", json={"email": "x"}).status_code == 422

    def test_a_websocket_client_on_one_sees_changes_made_on_the_other(self, workers: Pair) -> None:
        """Events fan out to every worker's clients, each delivered once."""
        ws_url = workers.b.replace("http://", "ws://") + "/ws/events"
        with connect(ws_url, open_timeout=10) as websocket:
            user = _create(workers.a, "ws@example.org")
            event = json.loads(websocket.recv(timeout=10))
            assert (event["type"], event["user"]["id"]) == ("user.created", user["id"])
            # b's own change: delivered once (a duplicate through Redis would come before
            # the next change, published after it).
            httpx.patch(f"{workers.b}/users/{user['id']}", json={"age": 3})
            httpx.delete(f"{workers.a}/users/{user['id']}")
            kinds = [json.loads(websocket.recv(timeout=10))["type"] for _ in range(2)]
            assert kinds == ["user.updated", "user.deleted"]

    @pytest.mark.parametrize("worker", ["a", "b"])
    def test_the_readme_walk_through_passes_on_either(self, workers: Pair, worker: str) -> None:
        """The README's curl lines get the statuses it promises from either worker."""
        base = getattr(workers, worker)
        assert _walk_through(base) == [200, 201, 200, 200, 200, 409, 204, 200]

    def test_metrics_list_every_worker(self, workers: Pair) -> None:
        """/metrics on one worker has every worker's figures, labelled by worker."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            figures = httpx.get(f"{workers.a}/metrics").json()
            if len(figures["workers"]) == 2:
                break
            time.sleep(0.05)  # the other worker reports every 0.1 s
        assert len(figures["workers"]) == 2
        assert figures["cluster"]["worker"] in figures["workers"]
        for each in figures["workers"].values():
            assert {"requests", "cache", "rate_limiter", "events"} <= set(each)
        text = httpx.get(f"{workers.b}/metrics?format=prometheus").text
        labelled = {
            sample.labels["worker"]
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if family.name == "pmp_http_requests"
        }
        assert labelled == set(figures["workers"])


def _curl_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [
        line
        for block in re.findall(r"^```console\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
        for line in block.splitlines()
        if "curl " in line
    ]


def _walk_through(base: str) -> list[int]:
    """Replay the README's curl lines (as tests/test_readme.py does) against ``base``."""
    statuses: list[int] = []
    user_id = ""
    with httpx.Client(base_url=base) as http:
        for line in _curl_lines():
            command = line.removeprefix("ID=$(").split(" | ")[0]
            args = shlex.split(command.replace("$ID", user_id))
            method = args[args.index("-X") + 1] if "-X" in args else "GET"
            url = next(arg for arg in args if arg.startswith("http://127.0.0.1:8000"))
            body = json.loads(args[args.index("-d") + 1]) if "-d" in args else None
            response = http.request(method, url.removeprefix("http://127.0.0.1:8000"), json=body)
            statuses.append(response.status_code)
            if line.startswith("ID=$("):
                user_id = response.json()["id"]
    return statuses


class TestServeWorkers:
    def test_two_workers_on_one_port(self, tmp_path: Path, redis_server: RedisServer) -> None:
        """`pmp serve --workers 2` on a new database: both start, the walk-through passes."""
        for attempt in range(2):  # two cold starts on a brand-new database
            database = tmp_path / f"cold{attempt}" / "users.db"
            process, base = _start(_env(database, redis_server.url), "--workers", "2")
            try:
                _wait_up(process, base)
                assert _walk_through(base) == [200, 201, 200, 200, 200, 409, 204, 200]
                deadline = time.monotonic() + 10
                while len(httpx.get(f"{base}/metrics").json()["workers"]) < 2:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)  # the other worker reports every 0.1 s
            finally:
                error = _stop(process)
            assert process.returncode == 0, error
            assert "Traceback" not in error

    @pytest.mark.parametrize(
        ("args", "extra"),
        [(["--workers", "2"], {}), ([], {"WEB_CONCURRENCY": "3"})],
        ids=["option", "web-concurrency"],
    )
    def test_several_workers_need_redis(
        self, tmp_path: Path, args: list[str], extra: dict[str, str]
    ) -> None:
        """Without PMP_REDIS_URL, more than one worker is refused: one line, exit 4."""
        env = {**_env(tmp_path / "users.db", None), **extra}
        process, _ = _start(env, *args)
        error = process.communicate(timeout=30)[1].decode()
        assert process.returncode == 4
        assert error.strip().count("\n") == 0
        assert "need PMP_REDIS_URL" in error

    def test_a_bad_web_concurrency_is_refused(self, tmp_path: Path) -> None:
        """WEB_CONCURRENCY that is not a positive integer: one line, exit 4."""
        env = {**_env(tmp_path / "users.db", None), "WEB_CONCURRENCY": "lots"}
        process, _ = _start(env)
        error = process.communicate(timeout=30)[1].decode()
        assert process.returncode == 4
        assert "WEB_CONCURRENCY must be a positive integer, got 'lots'" in error
