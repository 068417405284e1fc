"""Stage `prestage@<method>-<bits>`: what the method declares it needs before training (its class's
``prestage``): hash centres (SHC, CSQ, the SHC ablations), SSDH's pseudo-similarity, or nothing, in
which case it writes only a marker (a DVC matrix cannot leave out a method, so the stage exists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import check_bits, load_params, matrix_parser, run, section
from deephash.atomic import atomic_path, write_json

MARKER = "none.json"


def main() -> None:
    p = matrix_parser(__doc__)
    p.add_argument("--cache", default="data/cache", help="image cache (SSDH's features)")
    p.add_argument("--similarity", default="data/similarity/S.npy", help="class similarity S (the centre methods)")
    p.add_argument("--out", required=True, help="the method's targets at this length (targets/<method>-<bits>)")
    p.add_argument("--report", required=True, help="JSON report (metrics/prestage/<method>-<bits>.json)")
    args = p.parse_args()
    # imported once the arguments parse (--help answers without loading torch), each pre-stage's
    # module only where it runs
    from deephash.methods import method_class

    bits = check_bits(args.bits)
    cls = method_class(args.method)
    params = load_params(args.params)
    report: dict[str, Any] = {"method": args.method, "bits": bits, "prestage": cls.prestage}
    with atomic_path(args.out, directory=True) as out:
        if cls.prestage == "centers":
            from centers import write_centers

            own = dict(section(params, f"{args.method}.centers"))
            report |= write_centers(cls, bits, args.split, Path(args.similarity), own, out)
        elif cls.prestage == "pseudo_similarity":
            from pseudo_similarity import write_pseudo_similarity

            own = dict(section(params, f"{args.method}.pseudo_similarity"))
            report |= write_pseudo_similarity(args.split, args.cache, own, out)
        else:
            write_json(out / MARKER, report)
            print(f"prestage {args.method}-{bits}: none (the method needs nothing before training)")
    write_json(Path(args.report), report)


if __name__ == "__main__":
    run(main)
