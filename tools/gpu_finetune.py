#!/usr/bin/env python
"""Fine-tune u2netp on a GPU and show whether it beats the untuned u2netp on images it never trained on.

What it does
  1. Makes RGBA training cutouts from the built-in samples (every sample name × `--train-seeds` seeds) and from
     VITON garment photos + cloth masks (`$FLIXNB_DATA/viton`, all but the held-out ones; skipped when absent).
  2. Fine-tunes u2netp with `flixnb.learn.train.train` on CUDA (mixed precision), `--steps` steps or `--time-limit`
     seconds, whichever comes first; exports and registers the model with `flixnb.learn.train.finish`.
  3. Evaluates the untuned u2netp (the `u2netp` stage) and the tuned model (the `onnx` stage, path=…) through the
     real inference path, at full image resolution, on images that were NOT used for training:
       - built-in samples rendered with seeds outside `--train-seeds` (their own studio backdrops and shadows),
       - the held-out VITON garment photos (real photos, real masks),
     reporting mean IoU and boundary F (flixnb.metrics, 2 px tolerance) for each set, and training images/s.
  4. Writes `OUT/gpu_finetune.json` (and the run folder `OUT/run/` with checkpoints, model.onnx, model-card.md).

Usage (on a machine with an NVIDIA GPU and torch built with CUDA):
    python tools/gpu_finetune.py --out /tmp/ft [--steps 800] [--batch-size 16] [--size 320] [--time-limit 300]
Needs the verified u2netp weights in the model cache (`flixnb models fetch u2netp`, or FLIXNB_MODELS pointing at
a folder holding u2netp.onnx) and, optionally, the research data (FLIXNB_DATA, default ../shared/data).
Without CUDA it stops at once with exit code 2 and says why (`--allow-cpu` runs a tiny smoke version instead).
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path


def _fail(msg: str, code: int = 2) -> int:
    print(f"gpu_finetune: error: {msg}", file=sys.stderr)
    return code


def eval_set(names, seeds, viton_items, mp):
    "[(set name, item name, rgb, gt mask)] of held-out images."
    from flixnb.samples import sample
    out = []
    for n in names:
        for s in seeds:
            sh = sample(n, mp=mp, seed=s)
            out.append(('samples', sh.name, sh.image, sh.layers['gt_alpha'] >= .5))
    for it in viton_items: out.append(('viton', it.name, it.image, it.mask))
    return out


def score(items, step: dict) -> dict:
    "Per-set mean IoU / boundary F of recipe step `step` ({'u2netp': {}} or {'onnx': {...}}) on `items`."
    import numpy as np
    from flixnb.core import Shot, run_stage, FlixError
    from flixnb.metrics import iou, boundary_f
    (st, params), = step.items()
    res, t0 = {}, time.perf_counter()
    for set_name, name, rgb, gt in items:
        try: a = run_stage(Shot(rgb, meta=dict(stem=name)), st, **params).alpha >= .5
        except FlixError: a = np.zeros_like(gt)                         # "no subject": scored as an empty mask
        r = res.setdefault(set_name, dict(iou=[], boundary_f=[]))
        r['iou'].append(iou(a, gt)); r['boundary_f'].append(boundary_f(a, gt).f)
    out = {k: dict(n=len(v['iou']), iou=round(float(np.mean(v['iou'])), 4),
                   boundary_f=round(float(np.mean(v['boundary_f'])), 4)) for k, v in res.items()}
    out['seconds'] = round(time.perf_counter() - t0, 2)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.environ.get('OUT', 'gpu-finetune-out'), help='output folder [$OUT]')
    ap.add_argument('--steps', type=int, default=800)
    ap.add_argument('--time-limit', type=float, default=300, help='stop training after this many seconds [300]')
    ap.add_argument('--batch-size', type=int, default=16)
    ap.add_argument('--size', type=int, default=320)
    ap.add_argument('--lr', type=float, default=1e-4)
    ap.add_argument('--train-seeds', type=int, default=8, help='sample seeds 0…N-1 are used for training [8]')
    ap.add_argument('--eval-seeds', type=int, default=2, help='sample seeds N…N+K-1 are held out [2]')
    ap.add_argument('--viton-holdout', type=int, default=2, help='the first K VITON items are held out [2]')
    ap.add_argument('--mp', type=float, default=0.3, help='megapixels of the sample images [0.3]')
    ap.add_argument('--workers', type=int, default=None, help='data threads [cores − 2]')
    ap.add_argument('--allow-cpu', action='store_true', help='run a tiny smoke version on the CPU instead of failing')
    a = ap.parse_args(argv)

    try: import torch
    except ImportError: return _fail("torch is not installed (pip install 'flixnb[torch]' with a CUDA build)")
    if not torch.cuda.is_available() and not a.allow_cpu:
        return _fail(f"no CUDA device: torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'}) sees no GPU. "
                     "Run this on a GPU host, or pass --allow-cpu for a tiny smoke run.")
    from flixnb.core import ModelError
    from flixnb.models import model_path
    from flixnb.metrics import viton_cloth_items
    from flixnb.samples import SAMPLES
    from flixnb.learn.traindata import cutouts_from_samples, cutouts_from_viton
    from flixnb.learn.train import train, finish
    try: model_path('u2netp')
    except ModelError as e: return _fail(str(e))
    cpu = not torch.cuda.is_available()
    if cpu: a.steps, a.time_limit, a.batch_size, a.size, a.train_seeds, a.eval_seeds, a.mp = 4, 120, 2, 64, 1, 1, 0.05

    out = Path(a.out).absolute(); out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cut = out/'cutouts'
    names = list(SAMPLES)
    cutouts_from_samples(cut, names=names, seeds=range(a.train_seeds), mp=a.mp)
    vit = cutouts_from_viton(cut, start=a.viton_holdout)
    held_viton = viton_cloth_items()[:a.viton_holdout]
    t_data = time.perf_counter() - t0
    print(f"{len(names)*a.train_seeds} sample cutouts + {len(vit)} VITON cutouts in {t_data:.0f} s; "
          f"held out: samples seeds {a.train_seeds}…{a.train_seeds + a.eval_seeds - 1}, {len(held_viton)} VITON photos", flush=True)

    dev = 'cpu' if cpu else 'cuda'
    res = train(cut, out/'run', steps=a.steps, time_limit=a.time_limit, batch_size=a.batch_size, size=a.size, lr=a.lr,
                device=dev, amp='auto', init='u2netp', workers=a.workers or max(2, (os.cpu_count() or 4) - 2),
                ckpt_every=max(50, a.steps//8), n_eval=32 if not cpu else 2, val_fraction=0.1, log_every=25)
    card = finish(res, name='u2netp-studio-ft', register=True)
    print(f"trained {res['step']} steps, {res['images_per_s']} training images/s on {torch.cuda.get_device_name(0) if not cpu else 'cpu'}", flush=True)

    items = eval_set(names, range(a.train_seeds, a.train_seeds + a.eval_seeds), held_viton, a.mp)
    base = score(items, {'u2netp': {}})
    tuned = score(items, {'onnx': {'path': card['path'], 'size': a.size}})
    result = dict(device=torch.cuda.get_device_name(0) if not cpu else 'cpu', steps=res['step'], batch_size=a.batch_size,
                  size=a.size, amp=res['amp'], train_images_per_s=res['images_per_s'],
                  images_seen=card['training']['images_seen'], data_seconds=round(t_data, 1),
                  composites_heldout=card['metrics'], untuned_u2netp=base, tuned=tuned, model=card['path'],
                  sha256=card['sha256'], total_seconds=round(time.perf_counter() - t0, 1))
    (out/'gpu_finetune.json').write_text(json.dumps(result, indent=1))
    print(f"\n{'held-out set':14} {'n':>3}  {'IoU u2netp':>10} {'IoU tuned':>9}  {'bF u2netp':>9} {'bF tuned':>8}")
    for s in sorted(k for k in base if k != 'seconds'):
        b, t = base[s], tuned[s]
        print(f"{s:14} {b['n']:3d}  {b['iou']:10.4f} {t['iou']:9.4f}  {b['boundary_f']:9.4f} {t['boundary_f']:8.4f}")
    print(f"\ntraining: {result['train_images_per_s']} images/s ({a.size} px, batch {a.batch_size}, amp {res['amp']}); "
          f"results: {out/'gpu_finetune.json'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
