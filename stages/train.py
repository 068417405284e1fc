"""Stage `train@<method>-<bits>-<seed>`: train the hashing network (SHC stage 3 for `shc`).

Every epoch is checkpointed to ``--checkpoint`` (a persisted DVC output): a run killed and started
again with the same params, data and code resumes from its last complete epoch.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, fields
from pathlib import Path

from common import check_bits, live_callback, load_params, matrix_parser, run, section
from deephash.atomic import write_json
from deephash.config import merge_train
from deephash.errors import DeephashError


def main() -> None:
    p = matrix_parser(__doc__)
    p.add_argument("--cache", default="data/cache")
    p.add_argument("--seed", type=int, required=True, help="training seed (one of params.yaml: seeds)")
    p.add_argument("--targets", required=True, help="the method's pre-stage outputs (targets/<method>-<bits>)")
    p.add_argument("--out", required=True, help="model directory (models/<method>-<bits>-<seed>)")
    p.add_argument("--live", required=True, help="DVCLive directory for the training curves")
    p.add_argument("--checkpoint", required=True, help="resume directory, kept across runs (checkpoints/<key>)")
    p.add_argument("--metrics", required=True, help="selected epoch and its validation mAP (metrics/train/<key>.json)")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading torch, numba or matplotlib
    from deephash.checkpoint import save_model
    from deephash.data.arrays import load_arrays
    from deephash.data.split import read_split, split_dataset_name
    from deephash.methods import create_method
    from deephash.models import create_backbone
    from deephash.resume import Checkpoint, fingerprint
    from deephash.train import TrainConfig, fit, is_main_process, seed_everything
    from deephash.validation import validation_map

    bits = check_bits(args.bits)
    params = load_params(args.params)
    shared = dict(section(params, "train"))
    backbone_params = dict(shared.pop("backbone"))
    merged = merge_train(shared, section(params, f"{args.method}.train"), [f.name for f in fields(TrainConfig)])
    for line in merged.lines(args.method):  # the effective config: what the shared train section does not say
        print(line, file=sys.stderr)
    method_params = merged.method
    config = TrainConfig.from_params({**merged.train, "seed": args.seed}, f"{args.method}.train")

    split = read_split(args.split)
    data = load_arrays(args.cache, split.train, "train")
    classes = split.train.classes
    validation = split.part("validation")
    validate = None
    if config.val_every and not len(validation):
        raise DeephashError(
            f"train.val_every: {config.val_every}, but {args.split} has no validation images"
            " (split.validation: 0); set train.val_every: 0 and train.select: last"
        )
    method = create_method(args.method, bits, len(classes), method_params)
    method.load_targets(args.targets, data.labels)
    if config.val_every:
        validate = validation_map(method, load_arrays(args.cache, validation, "validation"), data, config)
    seed_everything(config.seed)  # the network's initial weights come from the seed too
    backbone = create_backbone(in_channels=data.channels, key="train.backbone", **backbone_params)
    network = method.build_network(backbone)
    key = f"{args.method}-{bits}-{args.seed}"
    model_config = {
        "method": args.method,
        "bits": bits,
        "num_classes": len(classes),
        "classes": classes,
        "dataset": split_dataset_name(args.split),
        "channels": data.channels,
        "image_shape": list(data.images.shape[1:3]),
        "backbone": backbone_params,
        "method_params": method_params,
        "train": asdict(config),
        "overrides": merged.overrides,
    }
    targets = Path(args.targets)
    checkpoint = Checkpoint(
        Path(args.checkpoint) / "last.pt",
        identity={"method": args.method, "bits": bits, "backbone": backbone_params},
        fingerprint=fingerprint(
            {
                **model_config,
                "train_ids": split.train.ids,
                "train_labels": split.train.labels.tolist(),
                "validation_ids": validation.ids,
                "cache_shape": list(data.images.shape),
            },
            sorted(targets.rglob("*")) if targets.is_dir() else [],
        ),
    )
    with live_callback(args.live, "train") as log:
        result = fit(
            network, method, data, config, callback=log, desc=f"train {key}", validate=validate, checkpoint=checkpoint
        )
    Path(args.checkpoint).mkdir(parents=True, exist_ok=True)  # a DVC output even when no epoch ran
    train_codes = method.train_codes()  # a collective call under DDP (SEMICON): before the rank check
    if not is_main_process():
        return
    # `floor`: the report flags learned methods below the trivial baselines without importing them
    selection = {
        "selected_epoch": result.epoch,
        "epochs": config.epochs,
        "select": config.select,
        "floor": method.floor,
    }
    if result.val_map is not None:
        selection["val_map"] = result.val_map
    save_model(
        args.out,
        network,
        {**model_config, "selection": selection},
        train_codes=(train_codes, split.train.ids) if train_codes is not None else None,
    )
    write_json(Path(args.metrics), selection)
    if config.val_every:
        print(f"train {key}: epoch {result.epoch} of {config.epochs} selected ({config.select})", file=sys.stderr)


if __name__ == "__main__":
    run(main)
