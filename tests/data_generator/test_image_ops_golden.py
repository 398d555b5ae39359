"""Reference cases recorded from the original library for the image ops and box validation."""

import golden_replay
import pytest

CASES = [
    case
    for prefix in ("photometric.", "geometric.", "patch.", "validation.")
    for case in golden_replay.cases(prefix)
]


@pytest.mark.parametrize("case", CASES, ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)
