"""Stage `train@<method>-<bits>-<seed>`: train the hashing network (SHC stage 3 for `shc`)."""

from __future__ import annotations

from dataclasses import asdict, fields

from common import check_bits, live_callback, load_params, matrix_parser, run, section
from deephash.checkpoint import save_model
from deephash.data.arrays import load_arrays
from deephash.data.split import read_split, split_dataset_name
from deephash.methods import create_method
from deephash.models import create_backbone
from deephash.train import TrainConfig, fit, is_main_process, seed_everything


def main() -> None:
    p = matrix_parser(__doc__)
    p.add_argument("--cache", default="data/cache")
    p.add_argument("--seed", type=int, required=True, help="training seed (one of params.yaml: seeds)")
    p.add_argument("--targets", required=True, help="the method's pre-stage outputs (targets/<method>-<bits>)")
    p.add_argument("--out", required=True, help="model directory (models/<method>-<bits>-<seed>)")
    p.add_argument("--live", required=True, help="DVCLive directory for the training curves")
    args = p.parse_args()
    bits = check_bits(args.bits)
    params = load_params(args.params)
    shared = dict(section(params, "train"))
    backbone_params = dict(shared.pop("backbone"))
    overrides = dict(section(params, f"{args.method}.train") or {})
    train_keys = {f.name for f in fields(TrainConfig)}
    method_params = {k: v for k, v in overrides.items() if k not in train_keys}
    config = TrainConfig.from_params(
        {**shared, **{k: v for k, v in overrides.items() if k in train_keys}, "seed": args.seed}
    )

    split = read_split(args.split)
    data = load_arrays(args.cache, split.train, "train")
    classes = split.train.classes
    method = create_method(args.method, bits, len(classes), method_params)
    method.load_targets(args.targets, data.labels)
    seed_everything(config.seed)  # the network's initial weights come from the seed too
    backbone = create_backbone(in_channels=data.channels, key="train.backbone", **backbone_params)
    network = method.build_network(backbone)
    key = f"{args.method}-{bits}"
    with live_callback(args.live, "train") as log:
        fit(network, method, data, config, callback=log, desc=f"train {key}")
    train_codes = method.train_codes()  # a collective call under DDP (SEMICON): before the rank check
    if not is_main_process():
        return
    save_model(
        args.out,
        network,
        {
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
        },
        train_codes=(train_codes, split.train.ids) if train_codes is not None else None,
    )


if __name__ == "__main__":
    run(main)
