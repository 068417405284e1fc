"""The method matrix in the pipeline: dvc.yaml and params agree with the registry, and end to end
two methods x one code length run, report, and re-run only what a method's parameter touches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_pipeline import TINY, dvc, make_repo, stages_run

from deephash.methods import list_methods, method_class

ROOT = Path(__file__).resolve().parents[1]


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_params_and_dvc_yaml_agree_with_the_registry():
    params, stages = load("params.yaml"), load("dvc.yaml")["stages"]
    assert set(params["methods"]) == {"shc", "csq", "hashnet", "triplet", "ssdh", "semicon", "lsh", "itq"}
    centred = [m for m in list_methods() if method_class(m).prestage == "centers"]
    assert sorted(stages["centers"]["matrix"]["method"]) == sorted(centred)
    for name in list_methods():
        assert isinstance(params[name]["train"], dict), name
        assert (ROOT / "targets" / name / "README.md").exists(), name
        if method_class(name).prestage is not None:
            assert method_class(name).prestage in params[name], name
    assert stages["pseudo_similarity"]["params"] == ["ssdh.pseudo_similarity"]
    assert "${item.method}.train" in stages["train"]["params"]


TWO = {**TINY, "methods": ["csq", "hashnet"], "report": {"metrics": ["map@10", "map@all"], "curve_metric": "map@all"}}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = make_repo(tmp_path_factory.mktemp("methods") / "repo", TWO)
    ran = stages_run(dvc(path, "repro"))
    assert {"train@csq-16", "train@hashnet-16", "evaluate@csq-16", "evaluate@hashnet-16", "report"} <= ran
    assert "centers@csq-16" in ran and not any(s.startswith("centers@hashnet") for s in ran)
    return path


@pytest.mark.slow
def test_report_holds_every_method_x_bits(repo):
    nested = json.loads((repo / "report" / "metrics.json").read_text())
    assert set(nested) == {"csq", "hashnet"} and set(nested["csq"]["b16"]) >= {"map@10", "map@all", "centers_s_loss"}
    table = (repo / "report" / "table.md").read_text()
    assert "| csq |" in table and "| hashnet |" in table and "map@all (16 bits)" in table
    plots = json.JSONDecoder().raw_decode(dvc(repo, "plots", "show", "--json"))[0]["data"]  # stderr follows
    curve = plots["report-metric-vs-bits"][0]["content"]["data"]["values"]
    assert {v["field"] for v in curve} == {"csq", "hashnet"}
    assert {"report/figures/pr-16.png", "report/figures/metric-vs-bits.png"} <= set(plots)


@pytest.mark.slow
def test_changing_one_methods_param_reruns_only_that_method(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["hashnet"]["train"]["alpha_scale"] = 5.0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(repo, "repro")
    assert stages_run(out) == {"train@hashnet-16", "export@hashnet-16", "evaluate@hashnet-16", "report"}
    assert "up to date" in dvc(repo, "status")
