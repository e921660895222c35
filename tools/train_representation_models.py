"""Train chapter 07's small models deterministically and ship their weights (cnnvit_ref/weights/).

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/train_representation_models.py \
        --names resnet,vit,mixer,vit_small_data,vit_no_skip

One torch thread, seed 0 for every model (cnnvit_ref.trained.train): two runs on the same machine and
torch version give the same weights. Each model's float32 state_dict goes to cnnvit_ref/weights/<name>.pt,
its training facts into cnnvit_ref/weights/trained.json (merged under a lock, so several processes with
different --names may run at once).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnvit_ref import trained  # noqa: E402

OUT = ROOT / "cnnvit_ref" / "weights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default=",".join(trained.NAMES), help="comma-separated model names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT, help="folder (default: the package's weights)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = args.out
    out.mkdir(exist_ok=True)
    data = trained.splits()
    for name in args.names.split(","):
        model, facts = trained.train(name, args.seed, data)
        torch.save(model.state_dict(), out / f"{name}.pt")
        facts["file_bytes"] = (out / f"{name}.pt").stat().st_size
        print(name, json.dumps(facts), flush=True)
        with open(out / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = out / "trained.json"
            record = json.loads(path.read_text()) if path.exists() else {}
            record["meta"] = {
                "data": f"cnnvit_ref.data.shapes_dataset, {trained.IMG_SIZE} x {trained.IMG_SIZE}, first "
                f"{trained.NUM_CLASSES} classes, noise 0.1; splits (images, seed): "
                + json.dumps(trained.SPLITS),
                "normalisation": f"(x - {trained.MEAN}) / {trained.STD}",
                "protocol": trained.PROTOCOL,
                "machine": f"{platform.machine()}, 2 shared cores, 1 torch thread, nice 19",
                "command": "OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/train_representation_models.py "
                "--names " + args.names + (f" --seed {args.seed}" if args.seed else ""),
            }
            record.setdefault("models", {})[name] = facts
            path.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
