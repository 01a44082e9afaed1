"""Every row of the conformance table (tests/conformance/requests.yaml) through the request rules.

The API's verdict is checked against validator.validate; the sandbox's (simulator mode) against
validate then policy.check, as the runner applies them. Rows marked unsettled run too: their
test id says so, and the verdict they pin is the one the sources leave open.
"""

from __future__ import annotations

import pytest

from course.model_catalogue import model_data
from course.sandbox import policy, validator
from tests.conformance.table import Row, Verdict, rows

ROWS = rows()


def assert_verdict(error: validator.ApiError | None, verdict: Verdict, row: Row) -> None:
    if verdict.status == 200:
        assert error is None, f"{row.name}: expected 200, got {error}"
        return
    assert error is not None, f"{row.name}: expected {verdict.status}, got 200"
    assert (error.status, error.type) == (verdict.status, verdict.error_type), error
    if verdict.path:
        assert error.message.startswith(f"{verdict.path}: "), error.message
    assert verdict.message in error.message


def test_the_table_has_at_least_120_rows_each_sourced_or_marked_unsettled() -> None:
    assert len(ROWS) >= 120
    assert all(row.source or row.unsettled for row in ROWS)
    statuses = {row.api.status for row in ROWS}
    assert 200 in statuses and 400 in statuses


@pytest.mark.parametrize("row", ROWS, ids=[row.test_id for row in ROWS])
def test_the_validator_gives_the_apis_verdict(row: Row) -> None:
    assert_verdict(validator.validate(row.body, model_data(), row.version), row.api, row)


@pytest.mark.parametrize("row", ROWS, ids=[row.test_id for row in ROWS])
def test_the_sandbox_gives_its_verdict_in_simulator_mode(row: Row) -> None:
    models = model_data()
    error = validator.validate(row.body, models, row.version) or policy.check(
        row.body, models, live_mode=False
    )
    assert_verdict(error, row.site, row)
    if row.sandbox is not None and error is not None:
        assert error.source == "sandbox"
