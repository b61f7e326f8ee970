#!/usr/bin/env python
"""Make docs/before_after.png for the README: built-in studio samples (top) and their catalog-basic results (bottom).

Run with the project's venv: `.venv/bin/python tools/make_figures.py`. Deterministic (samples are seeded).
"""
from pathlib import Path
import numpy as np, cv2
from PIL import Image
from flixnb.samples import sample
from flixnb.core import load_recipe

root = Path(__file__).resolve().parents[1]
NAMES = ['tee-navy-white', 'dress-chiffon-pink', 'jacket-fur-lightgrey', 'tee-white-on-white', 'trousers-denim-green']

def tile(img, h=300, w=200):
    s = min(h/img.shape[0], w/img.shape[1])
    im = cv2.resize(img, (max(1, round(img.shape[1]*s)), max(1, round(img.shape[0]*s))), interpolation=cv2.INTER_AREA)
    out = np.full((h, w, 3), 255, np.uint8)
    y, x = (h-im.shape[0])//2, (w-im.shape[1])//2
    out[y:y+im.shape[0], x:x+im.shape[1]] = im
    return out

if __name__ == '__main__':
    r = load_recipe('catalog-basic')
    top, bottom = [], []
    for n in NAMES:
        s = sample(n, mp=1)
        top.append(tile(s.image)); bottom.append(tile(r(s).image))
    gap = lambda a: np.full((a.shape[0], 8, 3), 128, np.uint8)
    row = lambda ts: np.hstack(sum([[t, gap(t)] for t in ts], [])[:-1])
    sheet = np.vstack([row(top), np.full((8, row(top).shape[1], 3), 128, np.uint8), row(bottom)])
    out = root/'docs'/'before_after.png'; out.parent.mkdir(exist_ok=True)
    tmp = out.with_name('.before_after.tmp.png'); Image.fromarray(sheet).save(tmp, optimize=True); tmp.replace(out)
    print(out)
