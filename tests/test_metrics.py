import numpy as np
import pytest
from conftest import reference_ap

from deephash.codes import CodeSet, pack_codes
from deephash.config import parse_topk
from deephash.errors import DeephashError
from deephash.metrics import evaluate_codes, hamming


def codeset(bits_rows, labels):
    signs = np.array(bits_rows, dtype=np.int8) * 2 - 1
    return CodeSet(
        codes=pack_codes(signs), labels=np.array(labels, dtype=np.uint8), ids=[str(i) for i in range(len(signs))]
    )


def test_hand_computed_map_with_ties():
    # 8-bit codes. Query 0000 0000, label A. Database distances: [1, 0, 1, 2, 1] with labels
    # [A, B, A, A, B]. Stable ranking: item1 (d0, B), item0 (d1, A), item2 (d1, A), item4 (d1, B), item3 (d2, A)
    q = codeset([[0] * 8], [[1, 0]])
    db = codeset(
        [[1] + [0] * 7, [0] * 8, [0, 1] + [0] * 6, [1, 1] + [0] * 6, [0, 0, 1] + [0] * 5],
        [[1, 0], [0, 1], [1, 0], [1, 0], [0, 1]],
    )
    result = evaluate_codes(q, db, 8, topk=[1, 3, "all"], pn=[1, 2, 5])
    m = result.metrics
    assert m["map@1"] == 0.0  # top 1 is irrelevant: R_1 = 0
    assert m["map@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["map@all"] == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)
    assert m["p@1"] == 0 and m["p@2"] == 0.5 and m["p@5"] == pytest.approx(3 / 5)
    # within radius 2: all five items, three relevant
    assert m["precision@r2"] == pytest.approx(3 / 5)
    pr = {p["radius"]: p for p in result.pr_curve}
    assert pr[0]["precision"] == 0 and pr[0]["recall"] == 0
    assert pr[1]["precision"] == pytest.approx(2 / 4) and pr[1]["recall"] == pytest.approx(2 / 3)


def test_map_all_keeps_the_last_item():
    """The classic gnd[0:-1] slice drops the last item; 'all' must not."""
    q = codeset([[0] * 8], [[1, 0]])
    db = codeset([[1] * 8, [0] * 8], [[1, 0], [0, 1]])  # the relevant item is ranked last
    assert evaluate_codes(q, db, 8, topk=["all"], pn=[1]).metrics["map@all"] == pytest.approx(1 / 2)


def test_precision_r2_is_zero_without_neighbours():
    q = codeset([[0] * 8], [[1]])
    db = codeset([[1] * 8], [[1]])
    assert evaluate_codes(q, db, 8, topk=["all"], pn=[1]).metrics["precision@r2"] == 0


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_matches_reference_on_random_codes_with_heavy_ties(rng, bits):
    signs = rng.integers(0, 2, size=(60, bits))
    signs[:, 4:] = 0  # only 4 informative bits: distances in 0..4, many ties
    labels = rng.integers(0, 2, size=(60, 3))
    labels[labels.sum(1) == 0, 0] = 1
    q = codeset(signs[:10], labels[:10])
    db = codeset(signs[10:], labels[10:])
    result = evaluate_codes(q, db, bits, topk=[5, 20, "all"], pn=[3])
    dist = hamming(q.codes, db.codes)
    rel = (labels[:10] @ labels[10:].T) > 0
    for k, key in [(5, "map@5"), (20, "map@20"), (50, "map@all")]:
        expected = np.mean([reference_ap(dist[i], rel[i], k) for i in range(10)])
        assert result.metrics[key] == pytest.approx(expected, abs=1e-12)


def test_parse_topk():
    assert parse_topk([100, "all"]) == [100, "all"]
    with pytest.raises(DeephashError, match=r"evaluate\.topk"):
        parse_topk([])
    with pytest.raises(DeephashError, match=r"evaluate\.topk"):
        parse_topk([0])


def test_width_mismatch_is_an_error():
    q = codeset([[0] * 16], [[1]])
    db = codeset([[0] * 8], [[1]])
    with pytest.raises(DeephashError, match="bits"):
        hamming(q.codes, db.codes)


def test_evaluate_bad_widths_are_errors():
    q = codeset([[0] * 16], [[1]])
    db = codeset([[0] * 16], [[1]])
    with pytest.raises(DeephashError, match="query codes are 16 bits wide, not 8"):
        evaluate_codes(q, db, 8)
    wide = CodeSet(db.codes, np.ones((1, 2), np.uint8), db.ids)
    with pytest.raises(DeephashError, match="query labels have 1 classes, database labels 2"):
        evaluate_codes(q, wide, 16)
