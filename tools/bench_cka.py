"""Benchmark of MinibatchCKA (COURSE.md §7, "representation analysis"): time and peak memory of the
CKA matrix over 12 x 12 layer pairs at 10,000 examples, and how the memory scales.

    .venv/bin/python tools/bench_cka.py              # the budget case and the scaling runs (about 2 minutes)
    .venv/bin/python tools/bench_cka.py --quick      # the budget case only

Each case runs in a fresh process (so that one case's peak does not hide the next one's), with one torch
thread by default (``--threads 2`` on an idle machine: on a shared one, two threads waiting for each other
made update_state 10x slower). The activations are synthetic, drawn one minibatch at a time, as a data loader feeding a network
would give them: 12 layers of ``features`` float32 numbers per example (4,160 by default = 65 tokens x 64,
the size of ``vit_tiny_patch4_32``'s blocks). Two networks (``acts_x``, ``acts_y``), the chapter's case.
Peak memory is the process's peak resident set (VmHWM) minus its size before the first minibatch (torch
imported, nothing computed), i.e. what MinibatchCKA and one minibatch of activations cost.

:func:`bench_minibatch_cka` is the measuring function, for ``tools/benchmark.py`` to import.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_minibatch_cka(
    n_examples: int = 10_000, batch_size: int = 256, num_layers: int = 12, features: int = 4160,
    threads: int = 1, dtype: str = "float64",
) -> dict:
    """Run MinibatchCKA(num_layers, num_layers) over ``n_examples`` in minibatches, in THIS process.

    Returns the seconds spent in ``update_state`` (and with drawing the activations), the growth of the
    peak RSS in MB (meaningful in a fresh process) and two CKA values as a sanity check.
    """
    import torch

    sys.path.insert(0, str(ROOT))
    from cnnvit_ref.representations import MinibatchCKA

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    mixing = torch.linspace(1.0, 0.05, num_layers)  # layers share a 64-d signal, fading, plus their own noise
    base = _rss_mb("VmRSS")
    mcka = MinibatchCKA(num_layers, num_layers, dtype=getattr(torch, dtype))
    t_start, t_cka = time.perf_counter(), 0.0
    seen = 0
    while seen < n_examples:
        n = min(batch_size, n_examples - seen)
        if n < 4:  # the unbiased HSIC needs 4 examples; a real loader would drop such a tail
            break
        z = torch.randn(n, 64, generator=g)
        z = z.repeat(1, features // 64 + 1)[:, :features]  # (n, features)
        acts_x = [torch.randn(n, features, generator=g).add_(z, alpha=float(w)) for w in mixing]  # (n, features)
        acts_y = [torch.relu(a) for a in acts_x]
        t0 = time.perf_counter()
        mcka.update_state(acts_x, acts_y)
        t_cka += time.perf_counter() - t0
        seen += n
    out = mcka.result()
    total = time.perf_counter() - t_start
    return {
        "n_examples": seen, "batch_size": batch_size, "num_layers": num_layers, "features": features,
        "threads": threads, "dtype": dtype, "seconds": round(t_cka, 2), "seconds_with_data": round(total, 2),
        "peak_rss_growth_mb": round(_rss_mb("VmHWM") - base, 1), "baseline_rss_mb": round(base, 1),
        "cka_00": round(float(out[0, 0]), 4), "cka_0_last": round(float(out[0, -1]), 4),
        "num_batches": mcka.num_batches,
    }


def _in_fresh_process(**kwargs) -> dict:
    code = f"import json, sys; sys.path.insert(0, {str(ROOT / 'tools')!r}); import bench_cka; " \
           f"print(json.dumps(bench_cka.bench_minibatch_cka(**{kwargs!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the 10,000-example, batch-256 case")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per case (default 1)")
    args = ap.parse_args()
    cases = [dict(n_examples=10_000, batch_size=256)]
    if not args.quick:
        cases += [dict(n_examples=2_500, batch_size=256),   # 4x fewer examples: same peak
                  dict(n_examples=40_000, batch_size=256),  # 4x more examples: same peak
                  dict(n_examples=10_000, batch_size=512),  # 2x the batch: a larger peak
                  dict(n_examples=10_000, batch_size=256, dtype="float32")]  # the reference code's precision
    print(f"{'dtype':>8} {'examples':>9} {'batch':>6} {'layers':>7} {'features':>9} {'CKA s':>6} {'+data s':>8} "
          f"{'peak MB':>8}  CKA[0,0] CKA[0,-1]")
    for case in cases:
        r = _in_fresh_process(threads=args.threads, **case)
        print(f"{r['dtype']:>8} {r['n_examples']:>9} {r['batch_size']:>6} {r['num_layers']:>4}x{r['num_layers']:<2} "
              f"{r['features']:>9} {r['seconds']:>6.1f} {r['seconds_with_data']:>8.1f} {r['peak_rss_growth_mb']:>8.1f}  "
              f"{r['cka_00']:.4f}   {r['cka_0_last']:.4f}")


if __name__ == "__main__":
    main()
