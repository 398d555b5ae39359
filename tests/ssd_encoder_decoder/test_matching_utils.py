"""Tests for ssd_encoder_decoder.matching_utils."""

import golden_replay
import numpy as np
import pytest

from ssd_encoder_decoder.matching_utils import match_bipartite_greedy, match_multi


@pytest.mark.parametrize("case", golden_replay.cases("matching."), ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)


def _reference_bipartite(weights):
    """Slow, literal version of the greedy rule over explicit (row, column) pairs."""
    weights = [list(row) for row in weights]
    matches = [0] * len(weights)
    for _ in weights:
        best = None
        for r, row in enumerate(weights):
            c = max(range(len(row)), key=lambda j: (row[j], -j))
            if best is None or row[c] > weights[best[0]][best[1]]:
                best = (r, c)
        r, c = best
        matches[r] = c
        weights[r] = [0] * len(weights[r])
        for row in weights:
            row[c] = 0
    return matches


def test_bipartite_hand_example():
    weights = np.array([[0.1, 0.8, 0.7], [0.2, 0.9, 0.3]])
    # Row 1 takes anchor 1 (0.9) first; row 0 then takes anchor 2 (0.7).
    np.testing.assert_array_equal(match_bipartite_greedy(weights), [2, 1])
    np.testing.assert_array_equal(weights, [[0.1, 0.8, 0.7], [0.2, 0.9, 0.3]])  # not modified


def test_bipartite_ties_go_to_lowest_index():
    weights = np.array([[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_array_equal(match_bipartite_greedy(weights), [0, 1])


def test_bipartite_exhausted_weights_rematch_first_row():
    # After row 0 takes anchor 0, only zeros remain: the original then writes anchor 0 to row 0
    # again and row 1 stays at anchor 0.
    weights = np.array([[0.6, 0.0], [0.4, 0.0]])
    np.testing.assert_array_equal(match_bipartite_greedy(weights), [0, 0])
    weights = np.array([[0.0, 0.6, 0.0], [0.0, 0.4, 0.0]])
    np.testing.assert_array_equal(match_bipartite_greedy(weights), [0, 0])


@pytest.mark.parametrize("seed", range(10))
def test_bipartite_against_reference(seed):
    rng = np.random.default_rng(seed)
    weights = np.round(rng.uniform(0, 1, size=(rng.integers(1, 6), 12)), 1)
    weights[weights < 0.3] = 0
    np.testing.assert_array_equal(match_bipartite_greedy(weights), _reference_bipartite(weights))


def test_match_multi_threshold_is_inclusive():
    weights = np.array([[0.5, 0.2, 0.49, 0.7], [0.5, 0.6, 0.1, 0.7]])
    gt, anchors = match_multi(weights, threshold=0.5)
    np.testing.assert_array_equal(anchors, [0, 1, 3])
    np.testing.assert_array_equal(gt, [0, 1, 0])  # ties to the first row


def test_match_multi_nothing_above_threshold():
    gt, anchors = match_multi(np.full((2, 4), 0.1), threshold=0.5)
    assert gt.size == 0 and anchors.size == 0
