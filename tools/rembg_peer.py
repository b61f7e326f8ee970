"""Run rembg (the peer flixnb is benchmarked against) on images; write each alpha and time it.

    .venv-rembg/bin/python tools/rembg_peer.py --model u2net|u2netp [--alpha-matting] --out OUTDIR IMG...

Writes `OUTDIR/<stem>.png` (8-bit L: the alpha of rembg's cutout) and prints one JSON line per image:
`{"file", "seconds", "peak_rss_mb", "width", "height", "alpha_matting", "matting_fell_back"}` —
`seconds` is `rembg.remove` alone (decode and PNG write excluded, model load excluded),
`peak_rss_mb` the process's peak resident memory while that image was processed (VmHWM, reset
before each image where the kernel allows, else the peak since start). A first line
`{"event": "model_load", ...}` reports the session's load time. An image that fails gives
`{"file", "error"}` and the script goes on (exit status 1 at the end).

Runs in its own venv (`bash tools/setup_rembg_peer.sh`); it must not import flixnb. Never
downloads: `U2NET_HOME` is set to flixnb's model cache (`FLIXNB_MODELS`, default
`platformdirs.user_cache_dir('flixnb')/models`) unless already set, and the script stops if
`<model>.onnx` is not there (rembg would otherwise fetch it from GitHub through pooch).
"""
import argparse, json, os, resource, sys, time
from pathlib import Path


def _models_dir() -> Path:
    if os.environ.get('FLIXNB_MODELS'): return Path(os.environ['FLIXNB_MODELS'])
    import platformdirs
    return Path(platformdirs.user_cache_dir('flixnb'))/'models'


def _reset_peak():
    "Reset the kernel's peak-RSS counter (VmHWM) for this process; False if not allowed."
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False


def _peak_rss_mb() -> float:
    try:
        for line in open('/proc/self/status'):
            if line.startswith('VmHWM:'): return int(line.split()[1])/1024
    except OSError: pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024   # KiB on Linux


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', choices=['u2net', 'u2netp'], default='u2net')
    p.add_argument('--alpha-matting', action='store_true', help="rembg's pymatting refinement (alpha_matting=True)")
    p.add_argument('--out', required=True, help='output folder for <stem>.png alphas')
    p.add_argument('images', nargs='+')
    a = p.parse_args(argv)

    home = Path(os.environ.setdefault('U2NET_HOME', str(_models_dir())))
    found = [q for q in (home/'models'/a.model/f'{a.model}.onnx', home/f'{a.model}.onnx') if q.is_file()]
    if not found:
        sys.exit(f"{home/(a.model + '.onnx')}: model file missing; refusing to let rembg download it "
                 f"(put {a.model}.onnx in FLIXNB_MODELS / U2NET_HOME)")
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)

    import numpy as np
    from PIL import Image
    import rembg, rembg.bg
    # rembg silently falls back to a plain cutout when pymatting raises ValueError: record it
    fell_back = []
    _amc = rembg.bg.alpha_matting_cutout
    def _watched(*args, **kw):
        try: return _amc(*args, **kw)
        except ValueError as e: fell_back.append(str(e)); raise
    rembg.bg.alpha_matting_cutout = _watched

    t0 = time.perf_counter()
    session = rembg.new_session(a.model)
    print(json.dumps(dict(event='model_load', model=a.model, path=str(found[0]), rembg=rembg.__version__,
                          seconds=round(time.perf_counter()-t0, 3), peak_rss_mb=round(_peak_rss_mb(), 1))), flush=True)
    Image.MAX_IMAGE_PIXELS = None
    failed = 0
    for f in a.images:
        try:
            im = Image.open(f); im.load()
            fell_back.clear(); _reset_peak()
            t0 = time.perf_counter()
            res = rembg.remove(im, session=session, alpha_matting=a.alpha_matting)
            dt = time.perf_counter() - t0
            peak = _peak_rss_mb()
            alpha = res.getchannel('A') if res.mode == 'RGBA' else res.convert('L')
            alpha.save(out/f'{Path(f).stem}.png')
            print(json.dumps({'file': str(f), 'seconds': round(dt, 3), 'peak_rss_mb': round(peak, 1),
                              'width': im.width, 'height': im.height, 'alpha_matting': a.alpha_matting,
                              'matting_fell_back': bool(fell_back)}), flush=True)
            del res, alpha, im
        except (Exception, MemoryError) as e:
            failed += 1
            print(json.dumps({'file': str(f), 'error': f'{type(e).__name__}: {e}'}), flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
