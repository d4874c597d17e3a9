"""Schemathesis against a real `taxiway serve`: whatever a client sends to a documented route, no 5xx.

Every operation of ``/openapi.json`` is fuzzed with requests that fit its schema, and those with a body
also with bodies that do not: the native ``/predict`` with the live model's row schema, ``/invocations``
and ``/v2/.../infer`` with their protocols' shapes. The server must keep answering, and stop cleanly on
Ctrl+C (:func:`running_server` checks its exit code).

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) fails on pytest 9.2: it sets
``Node._nodeid``, which pytest 9 no longer has. So each operation's Hypothesis strategy runs in a subtest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.serve.server import Server, deployed_project, running_server

EXAMPLES_PER_OPERATION = 30  # per mode; 16 operations, the 4 with a body twice
# Path parameters fixed to what the server serves: a random model name is a 404 before any body is read.
SERVED = {"model": "weather", "version": "v1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = deployed_project(tmp_path_factory, "fuzz")
    with running_server(root, log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: Server) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_gets_a_server_error(
    server: Server, api: BaseSchema, subtests: pytest.Subtests, mode: GenerationMode
) -> None:
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), f"an operation the fuzzer cannot read: {result.err()}"
        operations.append(result.ok())
    labels = {operation.label for operation in operations}
    assert {"POST /predict", "POST /invocations", "POST /v2/models/{model}/infer"} <= labels, labels
    if mode == GenerationMode.NEGATIVE:  # only a body can be made invalid: paths are fixed, no query
        operations = [operation for operation in operations if operation.body]
    with requests.Session() as session:
        for operation in operations:
            fixed = {name: value for name, value in SERVED.items() if f"{{{name}}}" in operation.path}
            strategy = operation.as_strategy(mode, path_parameters=fixed or None)

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,  # a real server over HTTP: timing is not what is under test
                suppress_health_check=list(HealthCheck),
                derandomize=True,  # the same cases on every run: a failure is reproducible
                database=None,
            )
            @given(case=strategy)
            def fuzz(case: Case) -> None:
                case.call_and_validate(session=session, checks=[not_a_server_error])

            with subtests.test(operation=operation.label):
                fuzz()
    assert server.process.poll() is None, server.log.read_text()
