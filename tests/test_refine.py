"Tests for flixnb.stages.refine: trimaps, matting, torch agreement, defringing, the refine stage."
import time
import numpy as np, cv2, pytest
from flixnb.core import Shot, StageError, run_stage
from flixnb.stages.refine import (auto_trimap, trimap_from_alpha, matte, matte_torch, estimate_foreground, refine, sad)

def disc_scene(h=200, w=260, ramp=6.0, fg=(200, 40, 60), noise=2, seed=0, radius=60):
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    a = np.clip((radius - np.hypot(yy - h/2, xx - w/2)) / ramp + 0.5, 0, 1)
    bg = np.dstack([np.broadcast_to(np.linspace(30, 220, w, dtype=np.float32), (h, w)),
                    np.full((h, w), 160, np.float32), np.broadcast_to(np.linspace(200, 40, w, dtype=np.float32), (h, w))])
    img = a[..., None]*np.float32(fg) + (1 - a[..., None])*bg + np.random.default_rng(seed).normal(0, noise, (h, w, 3))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), a.astype(np.float32)

@pytest.fixture(scope='module')
def scene():
    img, a = disc_scene()
    return img, a, trimap_from_alpha(a, band=8)

def test_auto_trimap_conventions():
    yy, xx = np.mgrid[:50, :70]
    coarse = (np.hypot(yy - 25, xx - 35) < 15).astype(np.float32)
    tri = auto_trimap(coarse, (280, 200))
    assert tri.shape == (200, 280) and tri.dtype == np.uint8
    assert set(np.unique(tri)) == {0, 128, 255}
    assert tri[100, 140] == 255 and tri[0, 0] == 0
    assert (auto_trimap(coarse*255, (280, 200)) == tri).all()          # uint8-range float and [0,1] agree
    assert (auto_trimap((coarse*255).astype(np.uint8), (280, 200)) == tri).all()
    assert (auto_trimap(coarse, (280, 200), band=2) == 128).sum() < (tri == 128).sum()
    assert auto_trimap(np.zeros((10, 10)), (40, 40)).max() == 0       # no object: all background, no band

def test_trimap_from_alpha():
    a = np.zeros((60, 60), np.float32); a[10:50, 10:50] = 1
    t = trimap_from_alpha(a, band=2)
    assert t[30, 30] == 255 and t[0, 0] == 0 and t[30, 10] == 128 and t[30, 12] == 128 and t[30, 13] == 255

def test_known_regions_exact_and_accuracy(scene):
    img, a, tri = scene
    al = matte(img, tri)
    assert al.dtype == np.float32 and al.shape == a.shape
    assert (al[tri == 255] == 1).all() and (al[tri == 0] == 0).all()
    assert np.abs(al - a)[tri == 128].mean() < 0.03
    # values 1..254 all count as unknown
    tri2 = tri.copy(); tri2[tri == 128] = 77
    assert np.allclose(matte(img, tri2), al)

def test_scaled_matte_close(scene):
    img, a, tri = scene
    al = matte(img, tri, scale=2, r=8, iters=1, smooth=1)
    assert (al[tri == 255] == 1).all() and (al[tri == 0] == 0).all()
    assert np.abs(al - a)[tri == 128].mean() < 0.04

def test_guided_cf(scene, tmp_path):
    "guided → closed-form polish: at least as close as guided, known pixels kept, 0 steps = its start; tiles at camera size; CLI default."
    img, a, tri = scene
    g, c = matte(img, tri), matte(img, tri, 'guided-cf')
    u = tri == 128
    assert np.abs(c - a)[u].mean() <= np.abs(g - a)[u].mean() * 1.05
    assert (c[tri == 255] == 1).all() and (c[tri == 0] == 0).all()
    assert (matte(img, tri, 'guided-cf', cg_iters=0) == g).all()
    big, ba = disc_scene(1500, 1500, ramp=8, radius=600)      # > 2 MP: the polish runs in 1024-px tiles, the edge crosses them
    bt = trimap_from_alpha(ba, band=10)
    bc, b0 = matte(big, bt, 'guided-cf'), matte(big, bt, 'guided-cf', cg_iters=0)
    bu = bt == 128
    assert np.abs(bc - ba)[bu].mean() < 0.9*np.abs(b0 - ba)[bu].mean()          # the tiled polish improves on its start
    small = matte(big, bt, 'guided-cf', cf_tile=256)                              # many tiles: the seams stay close to one solve
    assert np.abs(small - bc)[bu].mean() < 0.003 and np.abs(small - ba)[bu].mean() < 0.9*np.abs(b0 - ba)[bu].mean()
    allu = np.full(tri.shape, 128, np.uint8)                                      # nothing known: the guided alpha, no drift
    assert (matte(img, allu, 'guided-cf') == matte(img, allu)).all()
    from flixnb.stages.refine import matte_main
    cv2.imwrite(str(tmp_path/'i.png'), img[..., ::-1]); cv2.imwrite(str(tmp_path/'t.png'), tri)
    assert matte_main([str(tmp_path/'i.png'), str(tmp_path/'t.png'), '-o', str(tmp_path/'a.png')]) == 0
    out = cv2.imread(str(tmp_path/'a.png'), 0).astype(np.float32)/255
    assert np.abs(out - c).max() <= 1/255 + 1e-6

def test_errors_and_shortcuts(scene):
    img, a, tri = scene
    with pytest.raises(StageError, match="trimap is 260×199 but the image is 260×200"): matte(img, tri[:-1])
    with pytest.raises(StageError, match="unknown matting method"): matte(img, tri, method='nope')
    hard = np.where(a > 0.5, 255, 0).astype(np.uint8)
    t0 = time.perf_counter(); al = matte(img, hard)
    assert time.perf_counter() - t0 < 0.3
    assert (al == (hard == 255)).all()
    assert matte(img, np.zeros(a.shape, np.uint8)).max() == 0         # all background
    assert matte(img, np.full(a.shape, 255, np.uint8)).min() == 1     # all foreground

def test_torch_agrees_with_cpu(scene):
    pytest.importorskip('torch')
    img, a, tri = scene
    d = np.abs(matte_torch(img, tri) - matte(img, tri)).max()
    assert d <= 1/255, d

def green_edge(h=80, w=140):
    a = np.clip((np.arange(w, dtype=np.float32) - 60) / 20, 0, 1)[None].repeat(h, 0)
    F, B = np.float32([180, 30, 40]), np.float32([20, 200, 40])
    return (a[..., None]*F + (1 - a[..., None])*B + 0.5).astype(np.uint8), a, F

def test_defringe_only_band_and_removes_green():
    img, a, F = green_edge()
    fg = estimate_foreground(img, a)
    soft = (a > 0) & (a < 1)
    assert (fg[~soft] == img[~soft]).all()
    mid = soft & (a > 0.1)
    before = np.abs(img[mid][:, 1].astype(float) - F[1]).mean()
    after = np.abs(fg[mid][:, 1].astype(float) - F[1]).mean()
    assert after < 8 and after < before/5, (before, after)
    with pytest.raises(StageError, match="but the image is"): estimate_foreground(img, a[:-1])
    with pytest.raises(StageError, match="unknown foreground method"): estimate_foreground(img, a, 'nope')

def test_refine_stage_from_coarse_and_alpha():
    img, a = disc_scene(400, 520, ramp=4)
    coarse = cv2.resize(a, (65, 50), interpolation=cv2.INTER_AREA)
    s = run_stage(Shot(img, layers={'coarse': coarse}), 'refine')
    tri = s.layers['trimap']
    assert s.alpha.shape == a.shape and tri.dtype == np.uint8
    assert np.abs(s.alpha - a).mean() < np.abs(cv2.resize(coarse, (520, 400)) - a).mean() / 2
    assert (s.image[tri != 128] == img[tri != 128]).all()           # defringe stays in the band
    s2 = refine(Shot(img, alpha=a), defringe=False)
    assert s2.image is img and np.abs(s2.alpha - a).mean() < 0.01
    with pytest.raises(StageError, match="needs a coarse mask"): refine(Shot(img))

def test_sad():
    tri = np.array([[0, 128, 255, 128]], np.uint8)
    assert sad(np.array([[1, 0.5, 0, 1.0]]), np.array([[0, 0, 0, 0.25]], np.float32), tri) == pytest.approx(1.25/1000)
