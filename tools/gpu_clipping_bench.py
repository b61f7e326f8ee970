"""GPU clipping benchmark: a batch of 24 MP studio shots through u2netp and the torch version of refine's
guided matte, in fp16, on one CUDA GPU; prints images per second.

Usage (on a host with an NVIDIA GPU, from the repository root, flixnb installed in the venv):

    .venv/bin/python tools/gpu_clipping_bench.py                 # 8 shots of 24 MP, fp16, 3 timed passes
    .venv/bin/python tools/gpu_clipping_bench.py --batch 16 --mp 24 --dtype fp16 --passes 3 --json out.json
    .venv/bin/python tools/gpu_clipping_bench.py --check         # also compare GPU vs CPU alpha on one shot

What is timed, per pass over the batch (the images are generated and held in memory beforehand, so decode and
encode are not in it — the CPU benchmark `flixnb bench clipping` covers those):
  1. u2netp at 320 px: onnxruntime with the CUDA execution provider when `onnxruntime-gpu` is installed
     (else the CPU provider, said in the output), batched N×3×320×320;
  2. the automatic trimap at full resolution (`flixnb.stages.refine.auto_trimap`, CPU/OpenCV);
  3. the guided matte of the unknown band at full resolution, as the refine stage runs it: `flixnb.stages.refine.matte_torch(...,
     device='cuda', dtype=torch.float16, scale=auto)` — coarse-to-fine: the kernel at 1/8 resolution on the GPU (float64,
     as on the CPU), then the pointwise full-resolution pass; the image is uploaded in fp16.
The figure reported is images/s of the whole pass, and each part's seconds; `torch.cuda.max_memory_allocated`.

Without CUDA (no GPU, or a CPU-only torch) it stops at once with a clear message and exit status 2.
"""
import argparse, json, statistics, sys, time


def _fail(msg, code=2):
    print(f"gpu_clipping_bench: error: {msg}", file=sys.stderr)
    sys.exit(code)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', type=int, default=8, help='shots per batch [8]')
    p.add_argument('--mp', type=float, default=24, help='megapixels per shot [24]')
    p.add_argument('--passes', type=int, default=3, help='timed passes (after one warm-up); the median is reported [3]')
    p.add_argument('--dtype', choices=['fp16', 'fp32'], default='fp16')
    p.add_argument('--sample', default='tee-navy-white', help='built-in sample (see flixnb.samples.SAMPLES)')
    p.add_argument('--scale', default='auto', help="refine's coarse-to-fine factor: auto (as the refine stage: 8 at 24 MP) or an integer; 1 = one level [auto]")
    p.add_argument('--check', action='store_true', help='compare the GPU alpha with the CPU one on the first shot (max |diff| ≤ 1/255?)')
    p.add_argument('--json', help='also write the results to this JSON file')
    a = p.parse_args(argv)

    try: import torch
    except ImportError: _fail("torch is not installed; install a CUDA build of torch")
    if not torch.cuda.is_available():
        _fail(f"CUDA is not available (torch {torch.__version__}, cuda build: {torch.version.cuda}); "
              "run this on a host with an NVIDIA GPU and a CUDA build of torch")
    try: from flixnb.stages.refine import matte_torch, auto_trimap
    except ImportError as e: _fail(f"flixnb.stages.refine has no torch matte yet ({e})")
    import numpy as np, cv2
    import onnxruntime as ort
    from flixnb.samples import sample
    from flixnb.models import MODELS, model_path
    from flixnb.stages.segment import coarse_shape

    dev = torch.device('cuda')
    dtype = torch.float16 if a.dtype == 'fp16' else torch.float32
    gpu = torch.cuda.get_device_name(0)
    provs = ['CUDAExecutionProvider', 'CPUExecutionProvider'] if 'CUDAExecutionProvider' in ort.get_available_providers() else ['CPUExecutionProvider']
    sess = ort.InferenceSession(str(model_path('u2netp')), providers=provs)
    used = sess.get_providers()[0]
    m = MODELS['u2netp']
    mean, std = np.float32(m['mean']), np.float32(m['std'])
    inp = sess.get_inputs()[0].name

    print(f"GPU {gpu}; torch {torch.__version__}; onnxruntime {ort.__version__} ({used}); generating {a.batch} × {a.mp:g} MP…", flush=True)
    shots = [sample(a.sample, mp=a.mp, seed=i).image for i in range(a.batch)]
    H, W = shots[0].shape[:2]

    def segment(imgs):
        x = np.stack([cv2.resize(im, (320, 320), interpolation=cv2.INTER_AREA).astype(np.float32) for im in imgs])
        x /= np.maximum(x.reshape(len(imgs), -1).max(1), 1)[:, None, None, None]
        x = ((x - mean)/std).transpose(0, 3, 1, 2)
        try: out = sess.run(None, {inp: np.ascontiguousarray(x)})[0]
        except Exception:     # a model exported with batch 1: one at a time
            out = np.concatenate([sess.run(None, {inp: x[i:i+1]})[0] for i in range(len(imgs))])
        ch, cw = coarse_shape(H, W, 320)
        res = []
        for pm in out[:, 0]:
            pm = (pm - pm.min())/max(float(pm.max() - pm.min()), 1e-6)
            res.append(cv2.resize(pm.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR))
        return res

    from flixnb.stages.refine import default_band
    bw = default_band(_coarse_shape(H, W, 320), (W, H))
    mkw = dict(r=int(np.clip(bw, 4, 16)), iters=1, smooth=1, scale=None if a.scale == 'auto' else int(a.scale))   # as the refine stage

    def one_pass():
        t = {}
        t0 = time.perf_counter(); coarse = segment(shots); t['segment'] = time.perf_counter() - t0
        t0 = time.perf_counter(); tris = [auto_trimap(c, (W, H)) for c in coarse]; t['trimap'] = time.perf_counter() - t0
        t0 = time.perf_counter()
        alphas = [matte_torch(im, tr, device='cuda', dtype=dtype, **mkw) for im, tr in zip(shots, tris)]
        torch.cuda.synchronize(); t['matte'] = time.perf_counter() - t0
        t['total'] = sum(t.values())
        return t, alphas, tris

    one_pass()                                    # warm-up: CUDA context, kernels, ORT graph
    torch.cuda.reset_peak_memory_stats()
    passes = [one_pass() for _ in range(a.passes)]
    times = [p[0] for p in passes]
    med = {k: statistics.median(t[k] for t in times) for k in times[0]}
    res = dict(gpu=gpu, onnx_provider=used, batch=a.batch, megapixels=H*W/1e6, size=[W, H], dtype=a.dtype,
               seconds=med, images_per_s=a.batch/med['total'], max_gpu_mem_gb=torch.cuda.max_memory_allocated()/2**30)
    if a.check:
        from flixnb.stages.refine import matte
        _, alphas, tris = passes[-1]
        cpu = matte(shots[0], tris[0], 'guided', **mkw)
        res['max_abs_diff_vs_cpu'] = float(np.abs(cpu - alphas[0]).max())
        res['within_1_255'] = res['max_abs_diff_vs_cpu'] <= 1/255
    print(json.dumps(res, indent=1))
    print(f"{res['images_per_s']:.2f} images/s ({a.batch} × {res['megapixels']:.1f} MP, {a.dtype}; "
          f"segment {med['segment']:.2f} s, trimap {med['trimap']:.2f} s, matte {med['matte']:.2f} s per batch)")
    if a.json:
        with open(a.json, 'w') as f: json.dump(res, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
