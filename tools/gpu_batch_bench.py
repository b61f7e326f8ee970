#!/usr/bin/env python
"""GPU batch throughput for flixnb: 24 MP studio shots, end to end, on one H100/H200.

What one "image" costs here, end to end (wall clock, everything on the clock after a warm-up batch):
  read the JPEG bytes (a CPU thread pool)  →  decode on the GPU, a batch at a time (nvJPEG through
  `torchvision.io.decode_jpeg(..., device='cuda')`; CPU decode + upload when torchvision or nvJPEG is missing)
  →  the backdrop keyer in torch, fp16 (backdrop colour from the border, colour distance, soft alpha with a
  smoothstep; the cast-shadow band kept out of the alpha) at a working resolution, alpha upsampled to full
  resolution and refined with a box-filter guided filter (fp16)  →  composite on white, crop to the subject with a
  margin  →  encode JPEG on the GPU (`torchvision.io.encode_jpeg(device='cuda')`, torchvision ≥ 0.19) or on CPU
  threads  →  write the file atomically (temp + rename).

It is the GPU path of `flixnb batch --device cuda` in miniature: on a multi-GPU host run one Dask worker per GPU
(`flixnb batch IN OUT --device cuda` makes a LocalCluster with a worker per visible GPU), each doing this loop.

Second part (`--mode run_batch`, or `both`, the default): the real thing, `flixnb.run.batch.run_batch(paths, out,
recipe, device='cuda', batch_size=32)` end to end over the same JPEGs — Dask LocalCluster, a `process_batch` task per
32 images (bytes read by a thread pool, one nvJPEG batch decode per task, EXIF/ICC checked), the recipe's stages per
image, the manifest. It prints images/s counted from the first submission to the last result (cluster start and the
per-worker model warm-up excluded, as `flixnb bench batch` does) and with them included, how the images were decoded
(nvjpeg / cpu), the ONNX Runtime providers used, the refine device (when the refine stage reports one) and the mean
seconds per stage, so what bounds the rate is visible.

Usage (on the GPU host, in the project's venv with a CUDA torch + torchvision):
    python tools/gpu_batch_bench.py                       # 256 synthetic 24 MP shots, batch 32, fp16; then run_batch over 64
    python tools/gpu_batch_bench.py --mode run_batch --rb-n 128 --rb-workers 8 --recipe catalog-basic
    python tools/gpu_batch_bench.py --device cpu --n 4 --mp 1   # a dry run of both parts on the CPU (no figures)
    python tools/gpu_batch_bench.py --n 512 --batch 32 --source /data/shots   # your own JPEGs
    python tools/gpu_batch_bench.py --write                # also write the figures to BENCHMARKS.md ('batch-gpu')
Prints a JSON line per part with images/s end to end (and for the keyer part decode-only images/s (the nvJPEG limit: ~390 img/s at batch 32
was measured on an H200 for 24 MP)). Goal: ≥ 100 images/s end to end. Exit 2 when --device cuda has no CUDA device.
"""
from __future__ import annotations
import argparse, json, os, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def make_inputs(folder: Path, n: int, mp: float) -> list[Path]:
    "n JPEG files of `mp` megapixels: a few built-in flixnb samples, copied (the GPU sees every byte anyway)."
    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob('in-*.jpg'))
    if len(have) >= n: return have[:n]
    try:
        from flixnb.samples import write_samples, SAMPLES
        base = write_samples(folder / 'base', names=list(SAMPLES)[:4], mp=mp, with_alpha=False, quality=92)
    except ImportError:                                   # flixnb not importable: a plain synthetic shot
        import numpy as np
        from PIL import Image
        h = int((mp * 1e6 / 1.5) ** 0.5); w = int(h * 1.5)
        im = np.full((h, w, 3), 236, np.uint8); im[h // 6:5 * h // 6, w // 3:2 * w // 3] = (40, 60, 150)
        (folder / 'base').mkdir(exist_ok=True); base = [folder / 'base' / 'synthetic.jpg']
        Image.fromarray(im).save(base[0], quality=92)
    data = [Path(b).read_bytes() for b in base]
    out = []
    for i in range(n):
        p = folder / f'in-{i:05d}.jpg'
        if not p.exists(): p.write_bytes(data[i % len(data)])
        out.append(p)
    return out


def build(device: str, dtype):
    import torch
    import torch.nn.functional as F
    try:
        import torchvision.io as tvio
    except ImportError:
        tvio = None

    def decode(blobs: list[bytes]):
        "List of uint8 CHW CUDA tensors."
        if tvio is not None:
            ts = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
            try: return tvio.decode_jpeg(ts, device=device), 'nvjpeg'
            except (RuntimeError, TypeError): pass
        import numpy as np, cv2
        out = []
        for b in blobs:
            a = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy()
            out.append(torch.from_numpy(a).permute(2, 0, 1).to(device, non_blocking=True))
        return out, 'cpu'

    def box(x, r):
        "Mean filter of radius r (N×C×H×W), via avg_pool with padding by replication."
        x = F.pad(x, (r, r, r, r), mode='replicate')
        return F.avg_pool2d(x, 2 * r + 1, stride=1)

    def key(img, work=768, band=0.02, lo=14.0, hi=40.0, eps=1e-3, r=8):
        "img: 3×H×W uint8 → alpha H×W (dtype) and the composite on white, cropped with a 5 % margin (3×h×w uint8)."
        C, H, W = img.shape
        x = img.to(dtype).unsqueeze(0) / 255
        s = work / max(H, W)
        small = F.interpolate(x, scale_factor=s, mode='area') if s < 1 else x
        h, w = small.shape[-2:]
        b = max(2, int(band * min(h, w)))
        border = torch.cat([small[..., :b, :].flatten(2), small[..., -b:, :].flatten(2),
                            small[..., :, :b].flatten(2), small[..., :, -b:].flatten(2)], 2)
        bg = border.float().median(dim=2).values.to(dtype).view(1, 3, 1, 1)
        # colour distance in 0–255 units; luminance-normalised chroma so the cast shadow (darker, same hue) stays out
        d_rgb = (small - bg).abs().amax(1, keepdim=True) * 255
        lum = small.mean(1, keepdim=True).clamp_min(1e-3); lbg = bg.mean(1, keepdim=True)
        chroma = ((small / lum) - (bg / lbg)).abs().amax(1, keepdim=True) * 255 * lbg
        shadow = (lum < lbg) & (chroma < lo)
        d = torch.where(shadow, chroma, d_rgb)
        t = ((d - lo) / (hi - lo)).clamp(0, 1)
        a_small = t * t * (3 - 2 * t)
        a = F.interpolate(a_small, size=(H, W), mode='bilinear', align_corners=False)
        # guided filter (grey guide) at full resolution, fp16: edges follow the image
        g = x.mean(1, keepdim=True)
        mg, ma = box(g, r), box(a, r)
        cov = box(g * a, r) - mg * ma; var = box(g * g, r) - mg * mg
        A = cov / (var + eps); B = ma - A * mg
        a = (box(A, r) * g + box(B, r)).clamp(0, 1)
        comp = x * a + (1 - a)
        m = (a[0, 0] > 0.02)
        rows, cols = m.any(1).nonzero(), m.any(0).nonzero()
        if len(rows):
            y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
            my, mx = int(0.05 * (y1 - y0)), int(0.05 * (x1 - x0))
            y0, y1, x0, x1 = max(0, y0 - my), min(H, y1 + my), max(0, x0 - mx), min(W, x1 + mx)
            comp = comp[..., y0:y1, x0:x1]
        return a[0, 0], (comp[0] * 255 + 0.5).clamp(0, 255).to(torch.uint8)

    def encode(imgs, quality=92):
        "List of 3×h×w uint8 CUDA tensors → list of JPEG bytes."
        if tvio is not None:
            try:
                enc = tvio.encode_jpeg([i.contiguous() for i in imgs], quality=quality)
                return [bytes(e.cpu().numpy().tobytes()) for e in enc], 'gpu'
            except (RuntimeError, TypeError, ValueError): pass
        import cv2
        def one(t):
            a = t.permute(1, 2, 0).cpu().numpy()[..., ::-1]
            return cv2.imencode('.jpg', a, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        with ThreadPoolExecutor(os.cpu_count()) as ex: return list(ex.map(one, imgs)), 'cpu'

    return decode, key, encode


def write_atomic(path: Path, data: bytes):
    tmp = path.with_name('.tmp-' + path.name)
    with open(tmp, 'wb') as f: f.write(data)
    os.replace(tmp, path)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 epilog="--device cpu --n 4 --mp 1: a quick dry run of both parts on the CPU.")
    ap.add_argument('--n', type=int, default=256, help='images for the keyer part [256]')
    ap.add_argument('--mp', type=float, default=24.0, help='megapixels of the generated shots [24]')
    ap.add_argument('--batch', type=int, default=32, help='images per GPU batch (keyer) and per Dask task (run_batch) [32]')
    ap.add_argument('--source', type=Path, default=None, help='a folder of JPEGs to use instead of generated shots')
    ap.add_argument('--work', type=Path, default=Path(tempfile.gettempdir()) / 'flixnb-gpu-bench')
    ap.add_argument('--device', default='cuda', help="cuda (the benchmark) or cpu (a dry run) [cuda]")
    ap.add_argument('--mode', choices=('keyer', 'run_batch', 'both'), default='both', help='which part(s) to time [both]')
    ap.add_argument('--fp32', action='store_true', help='fp32 instead of fp16 (keyer part; always fp32 on the CPU)')
    ap.add_argument('--io-threads', type=int, default=8)
    ap.add_argument('--recipe', default='catalog-basic', help='recipe for the run_batch part [catalog-basic]')
    ap.add_argument('--rb-n', type=int, default=None, help='images for the run_batch part [min(n, 64)]')
    ap.add_argument('--rb-workers', type=int, default=None, help='Dask workers for the run_batch part [one per GPU]')
    ap.add_argument('--write', action='store_true', help="write the figures to BENCHMARKS.md (section 'batch-gpu'; cuda only)")
    return ap


def bench_keyer(a, paths, dev, dtype) -> dict:
    import torch
    cuda = dev.startswith('cuda')
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    out = a.work / 'out'; out.mkdir(parents=True, exist_ok=True)
    decode, key, encode = build(dev, dtype)
    pool = ThreadPoolExecutor(a.io_threads)
    batches = [paths[i:i + a.batch] for i in range(0, len(paths), a.batch)]

    def run(batch):
        blobs = list(pool.map(lambda p: p.read_bytes(), batch))
        imgs, how_dec = decode(blobs)
        comps = [key(i)[1] for i in imgs]
        jpgs, how_enc = encode(comps)
        list(pool.map(lambda pj: write_atomic(out / pj[0].name, pj[1]), zip(batch, jpgs)))
        return how_dec, how_enc

    how = run(batches[0]); sync()                                          # warm-up (cuDNN/nvJPEG init)
    blobs = [p.read_bytes() for p in batches[0]]
    t = time.perf_counter()
    for _ in range(3): decode(blobs)
    sync(); dec_rate = 3 * len(blobs) / (time.perf_counter() - t)
    if cuda: torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for b in batches: how = run(b)
    sync(); secs = time.perf_counter() - t
    pool.shutdown()
    return dict(part='keyer', images=len(paths), mp=a.mp, batch=a.batch, dtype=str(dtype).replace('torch.', ''),
                seconds=round(secs, 2), images_per_s=round(len(paths) / secs, 1), decode_only_images_per_s=round(dec_rate, 1),
                decode=how[0], encode=how[1], device=_device_name(dev),
                peak_gpu_gb=round(torch.cuda.max_memory_allocated() / 2**30, 1) if cuda else None)


def bench_run_batch(a, paths, dev) -> dict:
    "`run_batch(..., device=dev, batch_size=a.batch)` end to end over `paths`, into a fresh folder."
    import shutil, collections
    from flixnb.run.batch import run_batch, SUMMARY
    out = a.work / 'run-batch-out'
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    res = run_batch(paths, out, recipe=a.recipe, device=dev, batch_size=a.batch, workers=a.rb_workers, resume=False,
                    progress=True)
    wall = time.perf_counter() - t
    s = json.loads((out / SUMMARY).read_text())
    done = [r for r in res if r['status'] == 'done']
    stages = collections.defaultdict(list)
    for r in done:
        for k, v in (r.get('stages') or {}).items(): stages[k].append(v)
    label = lambda v: '+'.join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    count = lambda key: dict(collections.Counter(label(r[key]) for r in res if r.get(key)))
    res_d = dict(part='run_batch', recipe=a.recipe, images=len(paths), done=len(done), mp=a.mp, batch_size=a.batch,
                 workers=s['workers'], seconds=round(s['process_s'], 2),
                 images_per_s=round(len(done) / s['process_s'], 2) if s['process_s'] else None,
                 images_per_s_with_startup=round(len(done) / wall, 2), decode=count('decode'), onnx=count('onnx'),
                 refine_device=count('refine_device'), mean_stage_s={k: round(sum(v) / len(v), 3) for k, v in stages.items()},
                 mean_image_s=round(sum(r['seconds'] for r in done) / max(1, len(done)), 3), device=_device_name(dev),
                 failures=[r['error'] for r in res if r['status'] != 'done'][:3])
    shutil.rmtree(out, ignore_errors=True)
    return res_d


def _device_name(dev: str) -> str:
    if not dev.startswith('cuda'): return 'cpu'
    import torch
    return torch.cuda.get_device_name(0)


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try: import torch
    except ImportError:
        print("gpu_batch_bench: needs torch (a CUDA build on the GPU host)", file=sys.stderr); return 2
    dev = a.device
    if dev.startswith('cuda'):
        if not torch.cuda.is_available():
            print(f"gpu_batch_bench: --device {dev}: torch sees no CUDA device here (torch {torch.__version__}); this "
                  "benchmark is for a GPU host — use --device cpu for a dry run", file=sys.stderr)
            return 2
        dtype = torch.float32 if a.fp32 else torch.float16
    elif dev == 'cpu': dtype = torch.float32                          # fp16 kernels on the CPU: slow or missing
    else:
        print(f"gpu_batch_bench: --device must be cuda or cpu, got {dev!r}", file=sys.stderr); return 2
    paths = sorted(a.source.glob('*.jp*g'))[:a.n] if a.source else make_inputs(a.work / f'in-{a.mp:g}mp', a.n, a.mp)
    if not paths:
        print(f"gpu_batch_bench: no JPEGs in {a.source}", file=sys.stderr); return 2
    results = []
    if a.mode in ('keyer', 'both'):
        results.append(bench_keyer(a, paths, dev, dtype)); print(json.dumps(results[-1]), flush=True)
    if a.mode in ('run_batch', 'both'):
        n = a.rb_n or min(len(paths), 64)
        rb = paths[:n] if n <= len(paths) else make_inputs(a.work / f'in-{a.mp:g}mp', n, a.mp)
        r = bench_run_batch(a, rb, dev)
        r['goal_100_per_s'] = 'met' if (r['images_per_s'] or 0) >= 100 else 'NOT met'
        results.append(r); print(json.dumps(r), flush=True)
    if a.write and dev.startswith('cuda'):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from flixnb.core import update_benchmarks
        md = []
        for res in results:
            if res['part'] == 'keyer':
                md.append(f"GPU keyer pipeline, {res['device']}: {res['images']} shots of {a.mp:g} MP, batch {a.batch}, "
                          f"{res['dtype']}, decode {res['decode']}, encode {res['encode']}: **{res['images_per_s']} images/s "
                          f"end to end** (goal ≥ 100); decode alone {res['decode_only_images_per_s']} images/s; peak GPU "
                          f"memory {res['peak_gpu_gb']} GB.")
            else:
                md.append(f"`run_batch(device='cuda', batch_size={a.batch})`, recipe `{res['recipe']}`, {res['device']}, "
                          f"{res['workers']} Dask worker(s): {res['done']}/{res['images']} shots of {a.mp:g} MP, "
                          f"**{res['images_per_s']} images/s** ({res['images_per_s_with_startup']} with cluster start); "
                          f"decode {res['decode']}; ONNX {res['onnx'] or '-'}; mean seconds per stage {res['mean_stage_s']}.")
        md.append(f"Command: `python tools/gpu_batch_bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`.")
        update_benchmarks('batch-gpu', '\n\n'.join(md))
    return 0

if __name__ == '__main__':
    sys.exit(main())
