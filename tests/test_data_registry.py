"""Every registered adapter describes itself, and `python -m deephash datasets` lists them all."""

from __future__ import annotations

import pytest

from deephash.cli import main
from deephash.data import create_dataset, dataset_class, dataset_from_params, list_datasets
from deephash.data.split import FIXED, PROTOCOLS
from deephash.errors import DeephashError


@pytest.mark.parametrize("name", list_datasets())
def test_every_adapter_has_a_description_a_layout_and_an_example(name):
    adapter = dataset_class(name)
    assert (adapter.__doc__ or "").strip() and adapter.layout
    assert adapter.example.startswith(f"dvc exp run -S dataset.name={name}")


def test_datasets_command_lists_adapters_and_protocols(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in list_datasets():
        assert f"\n{name}: " in out or out.startswith(f"{name}: ")
    for name in [*PROTOCOLS, *FIXED]:
        assert f"  {name} " in out
    assert "dataset.digit-pairs.per_class=60" in out


def test_options_live_under_the_adapters_name():
    params = {"name": "digits-mosaic", "root": "", "digits-mosaic": {"query": 5}, "digit-pairs": {"per_class": 9}}
    name, adapter = dataset_from_params(params)
    assert name == "digits-mosaic" and adapter.counts["query"] == 5
    with pytest.raises(DeephashError, match=r"dataset\.name: unknown dataset 'cifar1000' \(did you mean cifar100\?"):
        create_dataset("cifar1000")
