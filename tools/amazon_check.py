"""An independent checker of Amazon's published MAIN-image rules, written separately from flixnb's composer and QC
(it imports neither): pure white background (RGB 255) including every corner, the product spanning >= 85 % of the
frame, >= 1600 px on the longest side, <= 10000 px, an sRGB JPEG.

Usage: python tools/amazon_check.py IMAGE...   (exit 1 if any fails; one line per file)
Source of the rules: https://sellercentral.amazon.com/help/hub/reference/external/G1881 (as of 2026)."""
from __future__ import annotations
import sys, io
from pathlib import Path
import numpy as np
from PIL import Image, ImageCms

def check(path) -> tuple[bool, list[str]]:
    "(ok, problems) for one file."
    problems = []
    with Image.open(path) as im:
        fmt, icc = im.format, im.info.get('icc_profile')
        a = np.asarray(im.convert('RGB')).astype(np.int16)
    h, w = a.shape[:2]
    if fmt != 'JPEG': problems.append(f"format {fmt}, not JPEG")
    if icc:
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
        if 'srgb' not in desc.lower().replace(' ', '').replace('-', ''): problems.append(f"ICC profile {desc.strip()!r} is not sRGB")
    if max(h, w) < 1600: problems.append(f"longest side {max(h, w)} px < 1600")
    if max(h, w) > 10000: problems.append(f"longest side {max(h, w)} px > 10000")
    k = max(2, min(h, w) // 50)
    for name, c in (('top-left', a[:k, :k]), ('top-right', a[:k, -k:]), ('bottom-left', a[-k:, :k]), ('bottom-right', a[-k:, -k:])):
        if not (c == 255).all(): problems.append(f"{name} corner is not pure white")
    # the product: anything visibly off-white (JPEG noise of a level or two is ignored)
    prod = (255 - a).max(-1) > 8
    rows, cols = np.flatnonzero(prod.mean(1) > 0.002), np.flatnonzero(prod.mean(0) > 0.002)
    if not len(rows): problems.append("no product found")
    else:
        fill = max((cols[-1] - cols[0] + 1) / w, (rows[-1] - rows[0] + 1) / h)
        if fill < 0.85: problems.append(f"product spans {fill:.0%} of the frame < 85 %")
    # background: what is left outside the product's box, grown by 2 %, must be pure white
    if len(rows):
        g = int(0.02 * max(h, w))
        bgm = np.ones((h, w), bool); bgm[max(rows[0]-g, 0):rows[-1]+g+1, max(cols[0]-g, 0):cols[-1]+g+1] = False
        if bgm.any():
            pure = (a[bgm] == 255).all(-1).mean()
            if pure < 0.999: problems.append(f"background only {pure:.2%} pure white")
    return not problems, problems

def main(argv=None) -> int:
    bad = 0
    for p in (argv if argv is not None else sys.argv[1:]):
        ok, why = check(p); bad += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {p}" + ('' if ok else '  — ' + '; '.join(why)))
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
