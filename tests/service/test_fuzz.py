"""Schemathesis against the Users API in process: every operation, every check, no 500.

The application runs over ASGI (no sockets) with its lifespan, on a fresh database. The
fast profile (``make test``) is seeded and small; ``PMP_FUZZ_PROFILE=long`` (``make fuzz``)
generates many more cases per operation and longer stateful sequences.

Each case is checked with every check Schemathesis has: no 5xx, status codes, content
types, headers and bodies as documented, negative data rejected, positive data accepted
(a valid request may still meet a 404 for an unknown ID or a 409 for a taken e-mail), and,
over the links Schemathesis infers (``POST /users`` -> ``GET/PATCH/DELETE /users/{id}``),
resources available after creation and gone after deletion.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.checks import CHECKS, load_all_checks

from python_mastery_portfolio.service.app import create_app
from python_mastery_portfolio.service.settings import Settings
from python_mastery_portfolio.service.users import UserService
from python_mastery_portfolio.web.di import get_container

LONG = os.environ.get("PMP_FUZZ_PROFILE", "").lower() == "long"
EXAMPLES = 1000 if LONG else 25
STEPS = 50 if LONG else 10
SEED = 18


def fuzz_settings(tmp: Path) -> Settings:
    return Settings(
        database_path=tmp / "users.db",
        # Limits out of the way: the fuzzer sends thousands of requests from one client.
        write_rate_limit=1e9,
        read_rate_limit=1e9,
        # Every generated e-mail is valid data; a blocked domain is a business rule the
        # schema cannot express.
        blocked_email_domains=(),
        admin_socket="",
        allowed_hosts=("*",),
    )


@contextlib.contextmanager
def running_app(tmp: Path) -> Iterator[FastAPI]:
    app = create_app(fuzz_settings(tmp))
    with TestClient(app):  # runs the lifespan: the database is open
        yield app


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409"]},
        },
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": not LONG},
        "operations": [
            {
                # A well-formed cursor the service did not make is refused: the schema can
                # say what a cursor looks like, not which ones the service handed out.
                "include-name": "GET /users",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "422"]},
                },
            }
        ],
    }
)
load_all_checks()  # the OpenAPI checks register themselves on first use otherwise
ALL_CHECKS: list[Any] = list(CHECKS.get_all())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    with running_app(tmp_path_factory.mktemp("fuzz")) as running:
        yield running


def users(app: FastAPI) -> UserService:
    return get_container(app).resolve(UserService)


def app_database(app: FastAPI) -> Path:
    return get_container(app).resolve(Settings).database_path


def load_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)

# The operations, read from the schema itself (building the app touches no disk), each in
# positive mode and, when it has inputs to break, in negative mode.
_PATHS = create_app(fuzz_settings(Path("unused"))).openapi()["paths"]
CASES = [
    (path, method.upper(), mode)
    for path, methods in _PATHS.items()
    for method, spec in methods.items()
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    if mode is schemathesis.GenerationMode.POSITIVE
    or spec.get("parameters")
    or spec.get("requestBody")
]


@pytest.mark.parametrize(
    ("path", "method", "mode"),
    CASES,
    ids=[f"{method} {path} {mode.value}" for path, method, mode in CASES],
)
def test_every_operation(
    app: FastAPI, path: str, method: str, mode: schemathesis.GenerationMode
) -> None:
    """Every operation answers generated requests as its schema says, never with a 5xx."""
    operation = load_schema(app)[path][method]

    @SETTINGS
    @hypothesis.seed(SEED)
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(checks=ALL_CHECKS)

    check()


def test_stateful(app: FastAPI) -> None:
    """Sequences over the inferred links (create, then read, change, delete) hold up."""
    machine = load_schema(app).as_state_machine()

    database = app_database(app)

    class Fuzz(machine):  # type: ignore[misc, valid-type]  # a class built at run time
        def setup(self) -> None:
            # Each sequence starts from an empty table, so a replayed one sees the same
            # answers (Hypothesis replays while shrinking).
            with closing(sqlite3.connect(database)) as connection, connection:
                connection.execute("DELETE FROM users")
            users(app).clear_cache()

        def validate_response(
            self, response: Any, case: schemathesis.Case[Any], **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=ALL_CHECKS)

    Fuzz.run(settings=hypothesis.settings(SETTINGS, stateful_step_count=STEPS))
