"""Every registered method must retrieve: on a small set the test draws, whose classes a network
separates easily but whose raw pixels are dominated by a nuisance pattern shared across classes,
each supervised method beats LSH by a clear margin, unsupervised ones match it, and no method puts
half the database in one bucket (the collapse that once shipped as SSDH's row)."""

import json

import numpy as np
import pytest

from deephash.codes import CodeSet
from deephash.data.arrays import ImageArrays
from deephash.diagnostics import bucket_stats
from deephash.methods import create_method, list_methods, method_class
from deephash.methods.features import feature_extractor, image_features
from deephash.methods.hash_centers import CenterMethod, centers_file
from deephash.methods.projection import ProjectionMethod
from deephash.methods.ssdh import FEATURES_FILE, THRESHOLDS_FILE, fit_thresholds, unit_rows
from deephash.metrics import evaluate_codes
from deephash.models import create_backbone
from deephash.train import TrainConfig, fit, seed_everything

CLASSES, BITS = 6, 16
MARGIN = 0.2  # supervised mAP@all - LSH's, at least
TOLERANCE = 0.02  # unsupervised mAP@all may fall this far below LSH's


def draw(per_class: int, seed: int) -> ImageArrays:
    """Class template (amplitude 70) + one of 3 nuisance templates (amplitude 120) + noise, 8x8 grey."""
    patterns = np.random.default_rng(0)
    templates = patterns.random((CLASSES, 8, 8)) > 0.5
    nuisance = patterns.random((3, 8, 8)) > 0.5
    rng = np.random.default_rng(seed)
    classes = np.repeat(np.arange(CLASSES), per_class)
    images = 70 * templates[classes] + 120 * nuisance[rng.integers(0, 3, len(classes))]
    images = images + rng.random(images.shape) * 40
    return ImageArrays(images.clip(0, 255).astype(np.uint8)[..., None], np.eye(CLASSES, dtype=np.uint8)[classes])


def write_targets(name: str, directory, data: ImageArrays) -> None:
    cls = method_class(name)
    if issubclass(cls, CenterMethod):
        centers, _ = cls.build_centers(CLASSES, BITS, np.eye(CLASSES), {})
        np.save(centers_file(directory, BITS), centers)
    elif cls.prestage == "pseudo_similarity":
        unit = unit_rows(image_features(feature_extractor("pixels", None), data))
        np.save(directory / FEATURES_FILE, unit)
        (directory / THRESHOLDS_FILE).write_text(json.dumps(fit_thresholds(unit)))


def retrieval(name: str, directory) -> tuple[float, float]:
    """(mAP@all, largest bucket's share of the database) of ``name`` trained on the drawn set."""
    train, query, database = draw(16, 1), draw(4, 2), draw(16, 3)
    write_targets(name, directory, train)
    closed_form = issubclass(method_class(name), ProjectionMethod)
    config = TrainConfig(epochs=0 if closed_form else 15, batch_size=16, pad=0, device="cpu")
    method = create_method(name, BITS, CLASSES)
    method.load_targets(directory, train.labels)
    seed_everything(0)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    fit(network, method, train, config)
    codes = {part: method.encode(network, data, config) for part, data in (("q", query), ("db", database))}
    ids = [str(i) for i in range(len(database))]
    result = evaluate_codes(
        CodeSet(codes["q"], query.labels, ids[: len(query)]), CodeSet(codes["db"], database.labels, ids), BITS, ["all"]
    )
    return result.metrics["map@all"], bucket_stats(codes["db"], BITS)["largest_bucket"]


@pytest.fixture(scope="module")
def lsh_map(tmp_path_factory) -> float:
    return retrieval("lsh", tmp_path_factory.mktemp("lsh"))[0]


@pytest.mark.parametrize("name", list_methods())
def test_method_retrieves_better_than_lsh(name, tmp_path, lsh_map):
    score, largest = retrieval(name, tmp_path)
    assert largest <= 0.5, f"{name}: {largest:.0%} of the database in one bucket"
    if method_class(name).supervised:
        assert score >= lsh_map + MARGIN, f"{name}: mAP@all {score:.3f}, LSH {lsh_map:.3f}"
    else:
        assert score >= lsh_map - TOLERANCE, f"{name}: mAP@all {score:.3f}, LSH {lsh_map:.3f}"
