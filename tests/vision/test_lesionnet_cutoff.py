"""The ``cutoff`` step of scripts/train_lesionnet.py: the judge's cutoff from evaluation-kind cases read at every cutoff."""

import pytest


def _row(painted: bool, by_cutoff: dict) -> dict:
    """A case as ``cutoff_case`` returns it; ``by_cutoff`` maps some cutoffs to (present, dice), the rest copy 0.8's."""
    row = {"case": "c", "painted": painted}
    for cutoff in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        present, dice = by_cutoff.get(cutoff, by_cutoff[0.8])
        row[str(cutoff)] = {"present": present, "dice": dice if painted else None}
    return row


@pytest.fixture()
def rows():
    # Two lesion cases: one found at every cutoff (0.9), one whose lesion the judge drops above 0.3 (0.6 below).
    # Two lesion-free cases: one clear at every cutoff, one with a false lesion kept at 0.4 and below.
    return [_row(True, {0.8: (True, 0.9)}),
            _row(True, {0.1: (True, 0.6), 0.2: (True, 0.6), 0.3: (True, 0.6), 0.8: (False, 0.0)}),
            _row(False, {0.8: (False, None)}),
            _row(False, {0.1: (True, None), 0.2: (True, None), 0.3: (True, None), 0.4: (True, None),
                         0.8: (False, None)})]


def test_table_counts_dice_found_and_absent_per_cutoff(rows, train_script):
    table = {t["cutoff"]: t for t in train_script.cutoff_table(rows)}
    assert table[0.3] == {"cutoff": 0.3, "dice": pytest.approx(0.75), "found": 1.0, "absent": 0.5}
    assert table[0.4] == {"cutoff": 0.4, "dice": pytest.approx(0.45), "found": 0.5, "absent": 0.5}
    assert table[0.5] == {"cutoff": 0.5, "dice": pytest.approx(0.45), "found": 0.5, "absent": 1.0}


def test_pick_keeps_the_absent_rate_first_then_the_best_dice(rows, train_script):
    table = train_script.cutoff_table(rows)
    # every lesion-free case absent: 0.5 and above qualify, all with Dice 0.45; the highest cutoff wins the tie
    assert train_script.pick_cutoff(table, least_absent=1.0)["cutoff"] == 0.8
    # half of them absent is enough: the best Dice (0.75 at 0.1-0.3), the highest of those cutoffs
    assert train_script.pick_cutoff(table, least_absent=0.5)["cutoff"] == 0.3
    # no cutoff reaches the rate: the best of all
    assert train_script.pick_cutoff(table[:3], least_absent=1.0)["cutoff"] == 0.3
