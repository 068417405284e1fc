import numpy as np
import pytest

from deephash.errors import DeephashError
from deephash.similarity import class_similarity, masked_softmax, normalize_rows


def test_masked_softmax_zeroes_the_mask():
    p = masked_softmax(np.array([[1.0, 2.0, 3.0]]), np.array([[False, False, True]]))
    assert p[0, 2] == 0
    assert p[0, :2] == pytest.approx(np.exp([1, 2]) / np.exp([1, 2]).sum())


def test_normalize_rows_centres_and_scales():
    out = normalize_rows(np.array([[0.0, 0.2, 0.7, 0.1]]))
    assert out.mean() == pytest.approx(0)
    assert np.abs(out).max() == pytest.approx(1)
    assert out[0, 2] == pytest.approx(1)


def make_logits(rng, n_per_class=20, classes=5):
    labels = np.repeat(np.eye(classes, dtype=np.uint8), n_per_class, axis=0)
    logits = rng.normal(size=(len(labels), classes)) + 3 * labels
    logits[:, 1] += 1.5 * labels[:, 0]  # class 0 looks like class 1
    return logits, labels


@pytest.mark.parametrize("mask", ["predicted", "label"])
@pytest.mark.parametrize("order", ["paper", "code"])
def test_similarity_shape_range_and_diagonal(rng, mask, order):
    logits, labels = make_logits(rng)
    s = class_similarity(logits, labels, mask=mask, order=order)
    assert s.shape == (5, 5)
    assert np.diag(s) == pytest.approx(1)
    assert s.min() >= -1 - 1e-12 and s.max() <= 1 + 1e-12
    assert s[0, 1] == s[0].max() or s[0, 1] == pytest.approx(np.sort(s[0])[-2])
    if order == "paper":
        assert np.array_equal(s, s.T)


def test_class_without_image_is_an_error():
    logits = np.zeros((2, 3))
    labels = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.uint8)
    with pytest.raises(DeephashError, match="class 2"):
        class_similarity(logits, labels)


def test_paper_order_values():
    logits = np.log(np.array([[8.0, 1.0, 3.0], [1.0, 8.0, 3.0], [1.0, 3.0, 8.0]]))
    labels = np.eye(3, dtype=np.uint8)
    s = class_similarity(logits, labels, mask="predicted", order="paper")
    # rows before symmetrising: p' = [0,.25,.75], [.25,0,.75], [.25,.75,0]; each centred on 1/3 and
    # scaled by its largest deviation (0.41666)
    raw = np.array([[0, 0.25, 0.75], [0.25, 0, 0.75], [0.25, 0.75, 0]])
    norm = (raw - 1 / 3) / (0.75 - 1 / 3)
    expected = (norm + norm.T) / 2
    np.fill_diagonal(expected, 1)
    assert s == pytest.approx(expected)


def test_code_order_symmetrises_raw_sums_first():
    logits = np.log(np.array([[8.0, 1.0, 3.0], [8.0, 1.0, 3.0], [1.0, 8.0, 3.0], [1.0, 3.0, 8.0]]))
    labels = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.uint8)
    s = class_similarity(logits, labels, mask="label", order="code")
    sums = np.array([[0, 0.5, 1.5], [0.25, 0, 0.75], [0.25, 0.75, 0]])
    sym = (sums + sums.T) / 2
    centred = sym - sym.mean(axis=1, keepdims=True)
    expected = centred / np.abs(centred).max(axis=1, keepdims=True)
    np.fill_diagonal(expected, 1)
    assert s == pytest.approx(expected)


def test_bad_choices_name_the_key(rng):
    logits, labels = make_logits(rng)
    with pytest.raises(DeephashError, match=r"similarity\.mask"):
        class_similarity(logits, labels, mask="argmax")
    with pytest.raises(DeephashError, match=r"similarity\.order"):
        class_similarity(logits, labels, order="other")


def test_s_is_saved_machine_independent():
    """Last-bit neighbours (what another CPU's reductions give) round to one value; the exact +-1
    diagonal, row extremes and symmetry survive, and each entry moves by at most half a float32 ulp."""
    from deephash.similarity import machine_independent

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(60, 6)), np.eye(6, dtype=np.uint8)[np.arange(60) % 6]
    s = class_similarity(logits, labels)
    neighbour = s * (1 + rng.choice([-1, 1], size=s.shape) * np.finfo(np.float64).eps)
    rounded = machine_independent(s)
    assert rounded.dtype == np.float64
    np.testing.assert_array_equal(rounded, machine_independent(neighbour))
    np.testing.assert_array_equal(rounded, rounded.T)
    assert (np.diag(rounded) == 1).all() and (np.abs(rounded).max(axis=1) == 1).all()
    assert np.abs(rounded - s).max() <= np.spacing(np.float32(1)) / 2
    np.testing.assert_array_equal(rounded, rounded.astype(np.float32))
