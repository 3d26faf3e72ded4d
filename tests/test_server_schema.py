"""A property-based sweep of sdlab serve's own OpenAPI document (schemathesis): whatever the schema lets a
client send, and the mutations schemathesis makes of it, the server never answers 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from sdlab.jobs import JobQueue, JobStore
from sdlab.server.app import create_app
from sdlab.server.config import ServerConfig


@pytest.fixture(scope="module")
def served(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("schema")
    (root / "models").mkdir()
    (root / "loras").mkdir()
    # tight limits, so the requests that are valid stay quick on the embedded model
    config = ServerConfig(data_dir=root / "data", models_dir=root / "models", lora_dir=root / "loras",
                          max_side=128, max_steps=4, max_images=2, max_queued=3)
    jobs = JobQueue(engine, JobStore(config.data_dir), config.max_queued).start()
    yield create_app(config, jobs)
    jobs.stop()


EXAMPLES = 12  # per operation: about 300 cases over the 28 operations


def test_no_input_the_schema_allows_gets_a_5xx(served):
    schema = schemathesis.openapi.from_asgi("/openapi.json", served)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25  # the job API, A1111's and OpenAI's routes
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_5xx(case):
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])

        no_5xx()
