"""Schemathesis against the live API: requests generated from the OpenAPI document, answers checked against it.

Every operation gets its examples, boundary values (coverage) and fuzzed requests, valid and invalid, sent over
HTTP to the stack's gunicorn. Each answer must be no 5xx, a documented status, a documented content type, and a
body and headers that match the document. The run is derandomized and bounded, so it is the same run every time
and takes well under a minute.

The schema is loaded when the module is imported, from an app built in-process (schemathesis 4.32's fixture
loader, `schemathesis.pytest.from_fixture`, reads `Node._nodeid`, which pytest 9.2 no longer has); the first
test checks that the stack serves exactly that document. `/notify` is fuzzed too: without Alipay's signature
every notification is answered `failure` and changes nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api import create_app
from api.openapi import build_document
from tests.integration.stack import Stack
from worker.alipay import signing
from worker.settings import Settings

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
"""Fuzzed requests per operation, on top of the schema's examples and the coverage phase's boundary cases
(`make fuzz` raises it)."""

SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "15"))
"""Stateful scenarios: chains of calls that follow the document's links (a submission, then its job, its order)."""

CONFIG = {
    "seed": 20261126,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
}

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def served_document() -> dict[str, Any]:
    """The document any app of this code serves (it depends on the routes, not on the settings)."""
    key = signing.generate_private_key()
    with tempfile.TemporaryDirectory() as directory:
        private, public = Path(directory, "app.pem"), Path(directory, "alipay.pem")
        private.write_text(signing.pem_private(key))
        public.write_text(signing.pem_public(key.public_key()))
        app_settings = Settings.from_env({"ALIPAY_APP_PRIVATE_KEY_FILE": str(private),
                                          "ALIPAY_PUBLIC_KEY_FILE": str(public)})
    app = create_app({"SETTINGS": app_settings, "STORE": object(), "CELERY": object(), "TESTING": True})
    return build_document(app)


DOCUMENT = served_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))


def test_the_stack_serves_the_document_under_test(stack: Stack) -> None:
    assert requests.get(f"{stack.api}/openapi.json", timeout=10).json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_it_describes_itself(case: schemathesis.Case, stack: Stack) -> None:
    case.call_and_validate(base_url=stack.api, checks=CHECKS, timeout=40)


def test_linked_calls_answer_as_described(stack: Stack) -> None:
    class Scenario(schema.as_state_machine()):
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": stack.api, "timeout": 40}

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Scenario.run(settings=settings(max_examples=SCENARIOS, stateful_step_count=6, derandomize=True, deadline=None,
                                   database=None, suppress_health_check=list(HealthCheck)))
