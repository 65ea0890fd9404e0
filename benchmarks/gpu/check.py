"""The one prepared GPU check: our speed rows, the official HRM timed in the same run, the speedrun.

    benchmarks/gpu/prepare.sh /path/to/sapientinc-HRM     # on the CPU machine, once: fills .gpu/
    benchmarks/gpu/check.sh                              # on the bare GPU machine (carry .gpu)
    python benchmarks/gpu/check.py --rehearse --out DIR  # the same stages on a CPU, tiny, in ~2 minutes

Stages, in order of value, each a subprocess with its own time limit inside one budget
(``--budget-s``, 690 s by default so that the whole check with its installs stays under 12 minutes):

1. ``env``: device, driver, torch, and the two ceilings of the chip measured here (bf16 matmul
   TFLOP/s on random data, device-to-device copy GB/s);
2. ``ours_hrm``: `looped-hrm speed` for HRM ``paper`` at batch 768, bf16, compiled;
3. ``official_hrm``: the official HRM timed the same way (`official_hrm.py`, from ``.gpu/official/HRM``);
4. ``ours_trm_mlp``, ``ours_trm_att``: TRM ``paper`` (MLP) and ``paper_att``;
5. ``speedrun``: `benchmarks/sudoku_speedrun.yaml` with whatever time is left as its training
   budget, then exact accuracy on the 2000 held-out hard puzzles.

Everything lands in ``--out`` (default ``results/gpu/<device>/``): ``speed.json``/``speed.md``
(our rows), ``official_hrm.json``, ``env.json``, ``speedrun/`` (the runner's tables), one log per
stage, and ``check.md``/``check.json``: every stage's status and time, the commands, and the
ratios ours/official (HRM against the official code timed here; TRM against the H100 anchor,
a different chip, said so in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PREPARED = ROOT / ".gpu"

# rehearsal rows stand in for the paper rows (tiny presets; TRM-MLP by overriding the mixer)
TRM_MLP_TINY = ["model.mixer=mlp", "model.pos_encodings=none"]
REHEARSAL_KEYS = {
    "hrm paper": "hrm tiny",
    "trm paper": " ".join(["trm tiny", *TRM_MLP_TINY]),
    "trm paper_att": "trm tiny",
}

# the official code on one H100 (docs/reference.md §6), for TRM, whose official code is not timed here
ANCHOR_H100 = {"trm paper": 6.48, "trm paper_att": 9.09, "hrm paper": 11.53}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


class Check:
    def __init__(self, out: Path | None, budget_s: float, rehearse: bool) -> None:
        self.rehearse = rehearse
        self.start = time.monotonic()
        self.budget_s = budget_s
        self.stages: list[dict[str, Any]] = []
        self.env = dict(os.environ)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.out = out  # resolved after the env stage when not given (the device name is needed)

    def remaining(self) -> float:
        return self.budget_s - (time.monotonic() - self.start)

    def run(self, name: str, cmd: list[str], limit_s: float, min_s: float = 20.0) -> dict[str, Any]:
        """Run one stage with at most ``limit_s`` seconds (less if the budget is shorter); log to a file."""
        limit = self.remaining() if self.rehearse else min(limit_s, self.remaining())  # caps are for the GPU
        stage: dict[str, Any] = {"stage": name, "command": shlex.join(cmd)}
        if limit < min_s:
            stage.update(status="skipped", reason=f"only {max(limit, 0):.0f} s of the budget left")
            self.stages.append(stage)
            self._write()
            return stage
        assert self.out is not None
        log = self.out / f"{name}.log"
        begin = time.monotonic()
        with open(log, "w") as f:
            try:
                proc = subprocess.run(
                    cmd, cwd=ROOT, env=self.env, stdout=f, stderr=subprocess.STDOUT, timeout=limit, check=False
                )
                status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
            except subprocess.TimeoutExpired:
                status = f"timed out after {limit:.0f} s"
        stage.update(status=status, seconds=round(time.monotonic() - begin, 1), log=log.name)
        if status != "ok":
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            stage["tail"] = tail
        self.stages.append(stage)
        print(f"[check] {name}: {status} in {stage['seconds']} s", flush=True)
        self._write()
        return stage

    # ------------------------------------------------------------------------------------------ stages

    def env_stage(self) -> dict[str, Any]:
        """Device facts and ceilings, in this process (imports torch once)."""
        import torch

        facts: dict[str, Any] = {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "rehearsal": self.rehearse,
        }
        if torch.cuda.is_available() and not self.rehearse:
            dev = torch.device("cuda")
            props = torch.cuda.get_device_properties(dev)
            facts.update(
                device=props.name,
                multiprocessors=props.multi_processor_count,
                memory_gib=round(props.total_memory / 2**30, 1),
            )
            a, b = (torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16) for _ in range(2))
            for _ in range(3):
                a @ b
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(10):
                a @ b
            end.record()
            torch.cuda.synchronize()
            facts["matmul_bf16_tflops"] = round(10 * 2 * 8192**3 / (start.elapsed_time(end) / 1e3) / 1e12, 1)
            x = torch.randn(2**30 // 2, device=dev, dtype=torch.bfloat16)  # 1 GiB
            y = torch.empty_like(x)
            y.copy_(x)
            start.record()
            for _ in range(10):
                y.copy_(x)
            end.record()
            torch.cuda.synchronize()
            facts["copy_gb_per_s"] = round(10 * 2 * x.numel() * 2 / (start.elapsed_time(end) / 1e3) / 1e9)
            del a, b, x, y
            torch.cuda.empty_cache()
            try:
                facts["nvidia_smi"] = subprocess.run(
                    [
                        "nvidia-smi",
                        "--query-gpu=name,driver_version,power.limit,clocks.max.sm,temperature.gpu",
                        "--format=csv,noheader",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=20,
                    check=False,
                ).stdout.strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                facts["nvidia_smi"] = f"unavailable: {exc}"
        else:
            facts["device"] = "cpu"
        if self.out is None:
            self.out = ROOT / "results" / "gpu" / _slug(facts["device"] if not self.rehearse else "rehearsal-cpu")
        self.out.mkdir(parents=True, exist_ok=True)
        prepared = PREPARED / "prepared.json"
        if prepared.exists():
            facts["prepared"] = json.loads(prepared.read_text())
        (self.out / "env.json").write_text(json.dumps(facts, indent=1) + "\n")
        self.facts = facts
        self.stages.append({"stage": "env", "status": "ok", "seconds": round(time.monotonic() - self.start, 1)})
        print(f"[check] env: {facts.get('device')} torch {facts['torch']}", flush=True)
        return facts

    def speed_cmd(self, model: str, preset: str, halting: str) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "looped_hrm.bench",
            "speed",
            "--model",
            model,
            "--halting",
            halting,
            "--compile",
            "--out",
            str(self.out),
        ]
        if self.rehearse:
            cmd += [
                "--preset",
                "tiny",
                "--task-preset",
                "tiny",
                "--batch",
                "8",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--device",
                "cpu",
                "--compile-backend",
                "aot_eager",
            ]
            if preset == "paper" and model == "trm":  # TRM-MLP's token mixing, as the paper preset
                cmd += [arg for override in TRM_MLP_TINY for arg in ("--set", override)]
        else:
            cmd += [
                "--preset",
                preset,
                "--task-preset",
                "paper",
                "--batch",
                "768",
                "--steps",
                "50",
                "--warmup",
                "10",
                "--device",
                "cuda",
                "--precision",
                "bf16",
                "--peak-tflops",
                "800",
            ]
        return cmd

    def official_cmd(self) -> list[str]:
        cmd = [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu" / "official_hrm.py"),
            "--hrm-dir",
            str(PREPARED / "official" / "HRM"),
            "--out",
            str(self.out),
        ]
        if self.rehearse:
            cmd += [
                "--tiny",
                "--batch",
                "8",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--device",
                "cpu",
                "--compile-backend",
                "aot_eager",
            ]
        else:
            cmd += ["--batch", "768", "--steps", "50", "--warmup", "10", "--device", "cuda", "--peak-tflops", "800"]
        return cmd

    def speedrun_cmd(self, train_s: float) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "looped_hrm.bench",
            "--benchmark",
            "benchmarks/sudoku_speedrun.yaml",
            "--time-budget",
            f"{train_s:.0f}",
            "--out",
            str(self.out / "speedrun"),
            "--no-resume",
            "--no-progress",
        ]
        if self.rehearse:  # the same YAML and data file, a tiny model on a few puzzles
            cmd += [
                "--preset",
                "tiny",
                "--device",
                "cpu",
                "--set",
                "task.num_train=32",
                "--set",
                "task.num_aug=1",
                "--set",
                "task.num_test=32",
                "--set",
                "train.batch_size=16",
                "--set",
                "eval.batch_size=32",
                "--set",
                "train.compile_backend=aot_eager",
                "--set",
                "train.checkpoint_every=null",
                "--set",
                "train.warmup_steps=2",
            ]
        return cmd

    def main(self) -> int:
        self.env_stage()
        self.run("ours_hrm", self.speed_cmd("hrm", "paper", "act_q"), limit_s=170)
        if (PREPARED / "official" / "HRM" / "models").is_dir():
            self.run("official_hrm", self.official_cmd(), limit_s=170)
        else:
            self.stages.append(
                {
                    "stage": "official_hrm",
                    "status": "skipped",
                    "reason": f"no official copy in {PREPARED / 'official' / 'HRM'} (benchmarks/gpu/prepare.sh)",
                }
            )
        self.run("ours_trm_mlp", self.speed_cmd("trm", "paper", "act_bce"), limit_s=150)
        self.run("ours_trm_att", self.speed_cmd("trm", "paper_att", "act_bce"), limit_s=150)
        # the speedrun: everything left, less start-up, data build and the held-out evaluation
        train_s = 10.0 if self.rehearse else self.remaining() - 120  # 120 s: start-up, data, held-out evaluation
        if train_s >= 60 or self.rehearse:
            self.run("speedrun", self.speedrun_cmd(train_s), limit_s=self.remaining(), min_s=0)
        else:
            self.stages.append(
                {"stage": "speedrun", "status": "skipped", "reason": f"{train_s:.0f} s left for training"}
            )
        self._write()
        print((self.out / "check.md").read_text())
        return 0 if all(s["status"] in ("ok", "skipped") for s in self.stages) else 1

    # ----------------------------------------------------------------------------------------- summary

    def _ratios(self) -> list[list[Any]]:
        speed = self.out / "speed.json"
        ours = (
            {
                " ".join([r["model"], str(r["preset"]), *r.get("overrides", [])]): r
                for r in json.loads(speed.read_text())["rows"]
            }
            if speed.exists()
            else {}
        )
        official_path = self.out / "official_hrm.json"
        official = json.loads(official_path.read_text()) if official_path.exists() else None
        rows = []
        for label, key in (("HRM", "hrm paper"), ("TRM-MLP", "trm paper"), ("TRM-Att", "trm paper_att")):
            r = ours.get(REHEARSAL_KEYS[key] if self.rehearse else key)
            if r is None:
                rows.append([label, "—", "—", "—", "—", "—", "—", "—"])
                continue
            if label == "HRM" and official is not None:
                ref, where = official["steps_per_s"], f"official, timed here ({official['ms_per_step']:.1f} ms/step)"
            elif self.rehearse:  # a tiny CPU row against an H100 figure would mean nothing
                rows.append(
                    [
                        label,
                        f"{r['steps_per_s']:.2f}",
                        "—",
                        "—",
                        f"{r['compile_s']:.0f}",
                        r.get("recompiles_after_warmup", "—"),
                        "— (rehearsal)",
                        "—",
                    ]
                )
                continue
            else:
                ref, where = ANCHOR_H100[key], "official on an H100 (docs/reference.md): another chip"
            rows.append(
                [
                    label,
                    f"{r['steps_per_s']:.2f}",
                    f"{100 * r['mfu']:.1f} %" if r.get("mfu") else "—",
                    f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") else "—",
                    f"{r['compile_s']:.0f}" if r.get("compile_s") is not None else "—",
                    r.get("recompiles_after_warmup", "—"),
                    f"{ref:.2f} ({where})",
                    f"{r['steps_per_s'] / ref:.2f}×",
                ]
            )
        return rows

    def _write(self) -> None:
        if self.out is None:
            return
        from tabulate import tabulate

        used = time.monotonic() - self.start
        summary = {
            "stages": self.stages,
            "budget_s": self.budget_s,
            "used_s": round(used, 1),
            "command": shlex.join([sys.executable, *sys.argv]),
            "rehearsal": self.rehearse,
            "env": getattr(self, "facts", {}),
        }
        (self.out / "check.json").write_text(json.dumps(summary, indent=1) + "\n")
        stage_rows = [[s["stage"], s["status"], s.get("seconds", "—"), s.get("reason", "")] for s in self.stages]
        title = summary["env"].get("device", "?") + (" (CPU rehearsal, tiny presets)" if self.rehearse else "")
        text = (
            f"# GPU check on {title}\n\n"
            f"Command: `{summary['command']}` — {used:.0f} s of a {self.budget_s:.0f} s budget; torch "
            f"{summary['env'].get('torch', '?')}. Ceilings measured here: "
            f"{summary['env'].get('matmul_bf16_tflops', '—')} TFLOP/s bf16 matmul, "
            f"{summary['env'].get('copy_gb_per_s', '—')} GB/s copy. MFU is against 800 TFLOP/s, as in docs/reference.md.\n\n"
            "## Training throughput, batch 768, bf16, compiled\n\n"
            + tabulate(
                self._ratios(),
                headers=[
                    "model",
                    "ours steps/s",
                    "MFU",
                    "peak GiB",
                    "compile s",
                    "recompiles after warm-up",
                    "official steps/s",
                    "ours / official",
                ],
                tablefmt="github",
            )
            + "\n\n## Stages\n\n"
            + tabulate(stage_rows, headers=["stage", "status", "seconds", "note"], tablefmt="github")
            + "\n\nCommands and logs: check.json and <stage>.log beside this file; our rows in speed.md, "
            "the official row in official_hrm.json, the speedrun's tables in speedrun/.\n"
        )
        (self.out / "check.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rehearse", action="store_true", help="tiny presets on the CPU (the CI test runs this)")
    parser.add_argument(
        "--budget-s", type=float, default=None, help="seconds for all stages (690 on a GPU, 1200 rehearsing)"
    )
    parser.add_argument("--out", type=Path, default=None, help="default results/gpu/<device>/")
    args = parser.parse_args(argv)
    budget = args.budget_s if args.budget_s is not None else (1200.0 if args.rehearse else 690.0)
    return Check(args.out.resolve() if args.out else None, budget, args.rehearse).main()


if __name__ == "__main__":
    raise SystemExit(main())
