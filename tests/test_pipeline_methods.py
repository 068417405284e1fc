"""The method x bits x seed matrix in the pipeline: dvc.yaml and params agree with the registry, the
seed axis expands the matrix, and end to end two methods x one code length x two seeds run, report
mean ± sd over the seeds, and re-run only what a method's parameter or a seed touches."""

from __future__ import annotations

import json
import re
import subprocess
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
    assert set(params["methods"]) <= set(list_methods()) and params["seeds"] == [0]
    assert stages["prestage"]["matrix"] == {"method": "${methods}", "bits": "${bits}"}  # only methods in `methods`
    for name in ("train", "export", "evaluate"):
        assert stages[name]["matrix"] == {"method": "${methods}", "bits": "${bits}", "seed": "${seeds}"}, name
    assert "targets/${item.method}-${item.bits}" in stages["train"]["deps"]  # its own length's targets only
    assert "--seed ${item.seed}" in stages["train"]["cmd"]
    tracked = subprocess.run(["git", "ls-files", "targets"], cwd=ROOT, capture_output=True, text=True, check=True)
    # no placeholder directories: every targets/<key>/ is an output (DVC keeps its own .gitignore there)
    assert tracked.stdout.split() in ([], ["targets/.gitignore"])
    assert set(params["methods"]) == {"shc", "csq", "hashnet", "triplet", "ssdh", "semicon", "lsh", "itq"}
    for name in list_methods():
        assert isinstance(params[name]["train"], dict), name
        if method_class(name).prestage is not None:
            assert method_class(name).prestage in params[name], name
    assert "${item.method}.train" in stages["train"]["params"]


def stage_list(path: Path) -> list[str]:
    return re.findall(r"^(\S+)", dvc(path, "stage", "list"), flags=re.M)


def test_the_seed_axis_expands_the_matrix(tmp_path):
    repo = make_repo(tmp_path / "repo", {**TINY, "methods": ["csq", "hashnet"], "seeds": [0, 1]})
    names = stage_list(repo)
    seeded = {
        f"{s}@{m}-16-{seed}" for s in ("train", "export", "evaluate") for m in ("csq", "hashnet") for seed in (0, 1)
    }
    assert set(names) == {"split", "cache", "similarity", "prestage@csq-16", "prestage@hashnet-16", "report"} | seeded


TWO = {
    **TINY,
    "methods": ["csq", "hashnet"],
    "seeds": [0, 1],
    "report": {"metrics": ["map@10", "map@all"], "curve_metric": "map@all"},
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = make_repo(tmp_path_factory.mktemp("methods") / "repo", TWO)
    ran = stages_run(dvc(path, "repro"))
    assert {"prestage@csq-16", "prestage@hashnet-16", "train@csq-16-1", "evaluate@hashnet-16-0", "report"} <= ran
    return path


@pytest.mark.slow
def test_a_method_without_a_prestage_gets_only_a_marker(repo):
    assert sorted(p.name for p in (repo / "targets" / "hashnet-16").iterdir()) == ["none.json"]
    assert json.loads((repo / "metrics" / "prestage" / "hashnet-16.json").read_text())["prestage"] is None
    assert sorted(p.name for p in (repo / "targets" / "csq-16").iterdir()) == ["centers-16.npy"]


@pytest.mark.slow
def test_report_mean_and_sd_equal_the_per_seed_values(repo):
    per_seed = [json.loads((repo / "metrics" / f"csq-16-{s}.json").read_text()) for s in (0, 1)]
    values = [m["map@all"] for m in per_seed]
    mean, sd = sum(values) / 2, abs(values[0] - values[1]) / 2**0.5
    headline = json.loads((repo / "report" / "metrics.json").read_text())
    assert headline["n"] == 2 and set(headline) == {"n", "csq", "hashnet"}
    assert headline["csq"]["b16"] == pytest.approx({"map@all": mean, "map@all_sd": sd})
    summary = json.loads((repo / "report" / "summary.json").read_text())["csq"]["b16"]
    assert summary["seeds"]["1"]["map@10"] == per_seed[1]["map@10"] and summary["n"] == 2
    assert summary["centers"]["min_distance"] >= 1
    table = (repo / "report" / "table.md").read_text()
    assert f"{mean:.4f} ± {sd:.4f}" in table and "| hashnet | 2 |" in table and "map@all (16 bits)" in table
    shown = json.JSONDecoder().raw_decode(dvc(repo, "metrics", "show", "--json"))[0]  # stderr follows
    assert [list(rev["data"]) for rev in shown.values()] == [["report/metrics.json"]]  # the only DVC metrics
    plots = json.JSONDecoder().raw_decode(dvc(repo, "plots", "show", "--json"))[0]["data"]
    curve = plots["report-metric-vs-bits"][0]["content"]["data"]["values"]
    assert {v["field"] for v in curve} == {"csq", "hashnet"}
    assert plots["plots/pr/hashnet-16-1.csv"][0]["content"]["title"]["text"].endswith("hashnet 16 bits, seed 1")
    assert {"report/figures/pr-16.png", "report/figures/metric-vs-bits.png"} <= set(plots)


@pytest.mark.slow
def test_a_new_seed_runs_only_its_own_stages(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["seeds"] = [0, 2]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        # `dvc status` (`repro --dry` stops at the first dep a dry run did not make): what would run
        changed = set(json.JSONDecoder().raw_decode(dvc(repo, "status", "--json"))[0])
        seed2 = {f"{s}@{m}-16-2" for s in ("train", "export", "evaluate") for m in ("csq", "hashnet")}
        assert changed == seed2 | {"report"}
    finally:
        params["seeds"] = [0, 1]
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "up to date" in dvc(repo, "status")


@pytest.mark.slow
def test_changing_one_methods_param_reruns_only_that_method(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["hashnet"]["train"]["alpha_scale"] = 5.0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(repo, "repro")
    hashnet = {f"{s}@hashnet-16-{seed}" for s in ("train", "export", "evaluate") for seed in (0, 1)}
    # the pre-stage tracks the method's whole section (DVC refuses a params key missing from params.yaml)
    assert stages_run(out) == hashnet | {"prestage@hashnet-16", "report"}
    assert "up to date" in dvc(repo, "status")
