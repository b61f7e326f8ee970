"""Train the try-on refiner on a GPU: runs templates/train_refiner.ipynb with papermill (or its code directly when
papermill is absent). Usage: python tools/gpu_train_refiner.py [--pairs DIR] [--steps 20000] [--out refiner.pt]"""
import argparse, subprocess, sys, shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--pairs', default='', help='folder with cloth/ and image/ (VITON-HD layout); default the shared data sample')
    ap.add_argument('--steps', type=int, default=20000)
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--out', default=str(ROOT/'refiner.pt'))
    ap.add_argument('--device', default=None)
    args = ap.parse_args(argv)
    import torch
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    params = dict(pairs_dir=args.pairs, steps=args.steps, size=args.size, out=args.out, device=device)
    nb = ROOT/'templates'/'train_refiner.ipynb'
    try:
        import papermill as pm
        pm.execute_notebook(str(nb), str(Path(args.out).with_suffix('.ipynb')), parameters=params, kernel_name='python3')
    except ImportError:                     # run the notebook's code cells with the parameters injected
        import json
        cells = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        code = '\n'.join(''.join(c['source']) for c in cells) + '\n'
        inject = '\n'.join(f'{k} = {v!r}' for k, v in params.items())
        src = code.replace(''.join(cells[0]['source']), ''.join(cells[0]['source']) + '\n' + inject, 1)
        exec(compile(src, str(nb), 'exec'), {'__name__': '__main__'})
    print(f"device {device}: refiner saved to {args.out}")
    return 0

if __name__ == '__main__': sys.exit(main())
