"""Run the small-data experiment of chapters 04 and 06 and write its results as data.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/small_data_experiment.py \
        --sizes 60,250,1000,4000,16000 --seeds 0,1,2 --variants cnn,vit,cnn+aug,vit+aug,convstem_vit,convit

Each run is :func:`cnnvit_ref.experiments.run_point` (one model, one training-set size n, one seed,
trained to convergence with early stopping on a validation split); ``+aug`` adds the augmentation.
Results go to ``cnnvit_ref/results/small_data_experiment.json`` after every run (and the weights of the plain
ViT, seed 0, for n >= 4000 to ``cnnvit_ref/results/vit_n<n>_seed0.pt``) (runs already there are
skipped, so an interrupted sweep resumes and later invocations add sizes or models). One torch thread.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnvit_ref import experiments  # noqa: E402

OUT = ROOT / "cnnvit_ref" / "results" / "small_data_experiment.json"
PROTOCOL = {
    "task": "shapes_dataset, 16 x 16 pixels, first 6 classes, noise 0.1; train/val/test objects centred in the "
            "left half of the centre columns (region='left'), OOD test in the right half (region='right')",
    "val_size": experiments.VAL_SIZE,
    "test_size": experiments.TEST_SIZE,
    "optimizer": "AdamW, lr 2e-3 constant after 100 linear warm-up steps, weight decay 0.05, grad-norm clip 1",
    "batch_size": 64,
    "eval_every": 50,
    "patience": 6,
    "max_steps": 20000,
    "min_patience_epochs": 3,
    "stopping": "stop when the validation accuracy has not exceeded its best for `patience` consecutive checks "
                "(one check every `eval_every` steps; more checks where `patience` checks cover fewer than "
                "`min_patience_epochs` passes over the training set, i.e. for n > 6400) or at `max_steps`; "
                "the weights of the best check are restored",
    "augmentation": "random shift by -2..2 pixels in each direction with wrap-around, and a horizontal flip "
                    "with probability 1/2 (which puts objects in the right half too)",
}


def key(run: dict) -> tuple:
    return run["model"], run["augmentation"], run["n"], run["seed"]


def load() -> dict:
    if OUT.exists():
        return json.loads(OUT.read_text())
    return {"meta": {}, "runs": []}


def save(results: dict) -> None:
    results["runs"].sort(key=lambda r: (r["model"], r["augmentation"], r["n"], r["seed"]))
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, OUT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="60,250,1000,4000,16000")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="cnn,vit,cnn+aug,vit+aug,convstem_vit,convit")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [(v.removesuffix("+aug"), v.endswith("+aug")) for v in args.variants.split(",")]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    results = load()
    meta = results["meta"]
    meta.update({
        "protocol": PROTOCOL,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, 1 torch thread, nice 19",
        "command": "OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/small_data_experiment.py " + " ".join(sys.argv[1:]),
    })
    meta.setdefault("commands", []).append(meta["command"])
    done = {key(r) for r in results["runs"]}
    for n in sizes:
        for seed in seeds:
            todo = [(m, a) for m, a in variants if (m, a, n, seed) not in done]
            if not todo:
                continue
            splits = experiments.make_splits(n, seed)
            for model, aug in todo:
                run, trained = experiments.run_point(model, n, seed, augmentation=aug, splits=splits, return_model=True)
                if model == "vit" and not aug and seed == 0 and n >= 4000:  # for chapter 04's position-embedding plot
                    torch.save(trained.state_dict(), OUT.parent / f"vit_n{n}_seed0.pt")
                results["runs"].append(run)
                meta["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
                save(results)
                print(f"{model + ('+aug' if aug else ''):14s} n={n:6d} seed={seed} test {run['test_acc']:.3f} "
                      f"ood {run['ood_acc']:.3f} train {run['train_acc']:.3f} steps {run['steps']:5d} "
                      f"{'CAP ' if run['hit_cap'] else ''}{run['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - start:.0f} s")
