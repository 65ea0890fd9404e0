"""``looped-hrm train``: one task × model × halting × seed, resolved exactly as one cell of a grid
and run through the same worker, so ``--out DIR`` holds what a grid's output folder holds for that
cell: ``runs/<cell>.json`` (the record ``report DIR`` reads) and ``work/<key>/`` (checkpoint,
``train_log.jsonl``, and ``combination.json`` so that a partial run can be evaluated). Run it again
with the same arguments to resume; raise ``train.steps`` to continue a finished run. Under
``torchrun --nproc-per-node N`` the run is data parallel (`looped_hrm.engine.distributed`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from looped_hrm.atomic import atomic_write_json
from looped_hrm.commands.guards import bounded, holding
from looped_hrm.commands.one_run import COMBINATION_NAME, failure_code, print_metrics, resolve
from looped_hrm.engine.distributed import Dist
from looped_hrm.runner.grid import MAX_SEED
from looped_hrm.runner.worker import record_path, run_combination
from looped_hrm.training.wandb_logger import wandb_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one task x model x halting combination (torchrun for several GPUs)",
        description="Train one combination; the output folder is one grid cell (bench report reads it).",
    )
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True)
    p.add_argument(
        "--halting", default=None, help="halting policy (default: the model's own: act_q for HRM, act_bce for TRM)"
    )
    p.add_argument("--preset", default=None, help="plugin preset: tiny, small, paper (default small)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override: train.steps=200, train.batch_size=768 (global over ranks), model.H_cycles=3 ...",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="auto (default: cuda:LOCAL_RANK when CUDA is available, else cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (rerun with the same DIR to resume)")
    p.add_argument("--init-from", metavar="CHECKPOINT", help="start from a checkpoint of the official HRM/TRM code")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="live progress: step, loss, exact accuracy, segments, examples/s, ETA (default: on)",
    )
    p.set_defaults(func=cmd_train, resumable=True)


def cmd_train(args: argparse.Namespace) -> int:
    bounded("--seed", args.seed, 0, MAX_SEED, "a seed")
    dist, device = Dist.from_env(args.device or "auto")
    try:
        sets = list(args.set) + ([f"train.init_from={Path(args.init_from).resolve()}"] if args.init_from else [])
        combo = resolve(args.task, args.model, args.halting, args.preset, sets, args.seed, str(device))
        out = Path(args.out)
        workdir = out / "work" / combo.key
        with holding(out, "--out", dist):  # one command per folder: a second train, or a grid, waits its turn
            if dist.is_main:
                workdir.mkdir(parents=True, exist_ok=True)
                atomic_write_json(workdir / COMBINATION_NAME, combo.to_dict())
                ranks = f" on {dist.world} ranks ({'nccl' if device.type == 'cuda' else 'gloo'})" if dist.active else ""
                print(f"train {combo.name}{ranks} -> {out}", file=sys.stderr)
            record = run_combination(combo, out, threads=None, progress=args.progress, dist=dist, wandb=wandb_project())
    finally:
        dist.close()
    if not dist.is_main or record["status"] != "ok":
        return failure_code(record, dist)
    print_metrics(record["metrics"], record_path(out, combo))
    return 0
