"""The README's Python examples run as written, in order, in one namespace."""

from __future__ import annotations

import logging
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_readme_examples_run() -> None:
    """Every python block of the README executes without error."""
    blocks = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "readme"}
    # The logging example configures the root logger, as an application would; the rest of the
    # suite gets it back as it was.
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for index, code in enumerate(blocks):
            exec(compile(code, f"README block {index}", "exec"), namespace)  # noqa: S102 - our own docs
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_readme_names_the_test_command() -> None:
    """The README tells how to run the tests and the service."""
    text = README.read_text(encoding="utf-8")
    assert "make test" in text
    assert "make run" in text


def _curl_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [
        line
        for block in re.findall(r"^```console\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
        for line in block.splitlines()
        if "curl " in line
    ]


def test_readme_curl_lines_work(tmp_path: Path) -> None:
    """The README's curl lines, replayed against the service, get the statuses it promises."""
    import json
    import shlex

    from fastapi.testclient import TestClient

    from python_mastery_portfolio.service import Settings, create_app

    lines = _curl_lines()
    assert len(lines) == 8
    settings = Settings(database_path=tmp_path / "users.db")
    statuses: list[int] = []
    user_id = ""
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        for line in lines:
            assigns_id = line.startswith("ID=$(")
            command = line.removeprefix("ID=$(").split(" | ")[0]
            args = shlex.split(command.replace("$ID", user_id))
            method = args[args.index("-X") + 1] if "-X" in args else "GET"
            url = next(arg for arg in args if arg.startswith("http://127.0.0.1:8000"))
            body = json.loads(args[args.index("-d") + 1]) if "-d" in args else None
            response = client.request(method, url.removeprefix("http://127.0.0.1:8000"), json=body)
            statuses.append(response.status_code)
            if assigns_id:
                user_id = response.json()["id"]
    # health, create, read, patch, list, duplicate (problem+json), delete, metrics
    assert statuses == [200, 201, 200, 200, 200, 409, 204, 200]
