"Hand-computable checks of flixnb.metrics, and the loaders' behaviour with and without the real data."
import unittest
import numpy as np
import cv2
import pytest

from flixnb.metrics import (sad, mse, gradient_error, connectivity_error, gauss_gradient, iou, boundary, boundary_f,
                            near, DataMissing, dataset_dir, alphamatting_items, viton_cloth_items,
                            vitonhd_cloth_items, cihp_person_items)

LOADERS = (alphamatting_items, viton_cloth_items, vitonhd_cloth_items, cihp_person_items)


@pytest.fixture
def block():
    gt = np.zeros((10, 10), np.float32); gt[2:8, 2:8] = 1
    al = gt.copy(); al[0:4, 0:5] += 0.2                    # 20 px off by 0.2
    tri = np.zeros((10, 10), np.uint8); tri[:, 3:] = 128   # unknown = columns 3..9
    return al, gt, tri


def test_sad_mse_by_hand(block):
    al, gt, tri = block
    assert sad(al, gt) == pytest.approx(20*0.2/1000)
    assert sad(al, gt, tri) == pytest.approx(8*0.2/1000)      # rows 0-3 x columns 3-4
    assert sad(al, gt, tri.astype(bool)) == pytest.approx(8*0.2/1000)
    assert mse(al, gt) == pytest.approx(20*0.04/100)
    assert mse(al, gt, tri) == pytest.approx(8*0.04/70)
    assert sad(gt, gt, tri) == 0
    assert np.isnan(mse(al, gt, np.zeros_like(tri)))
    u8 = (np.clip(al, 0, 1)*255).round().astype(np.uint8)     # uint8 alphas are value/255
    assert sad(u8, gt) == pytest.approx(sad(np.clip(al, 0, 1), gt), abs=1e-6)


def test_shape_errors(block):
    al, gt, tri = block
    with pytest.raises(ValueError, match="does not match gt"): sad(al, gt[:5])
    with pytest.raises(ValueError, match="trimap shape"): mse(al, gt, tri[:5])
    with pytest.raises(ValueError, match="does not match gt"): iou(al > 0.5, gt[:5] > 0.5)


def test_gauss_gradient_on_ramp():
    ramp = np.tile(np.arange(20, dtype=np.float64), (20, 1))
    gx, gy = gauss_gradient(ramp)
    np.testing.assert_allclose(gy, 0, atol=1e-5)
    np.testing.assert_allclose(gx[5:15, 5:15], gx[10, 10], rtol=1e-5)
    assert gx[10, 10] > 0
    gx2, gy2 = gauss_gradient(ramp.T)
    np.testing.assert_allclose(gy2, gx.T, rtol=1e-5, atol=1e-5)


def test_gradient_error():
    edge = np.zeros((40, 40)); edge[:, 20:] = 1
    soft = cv2.GaussianBlur(edge, (0, 0), 2)
    tri = np.zeros((40, 40), np.uint8); tri[:, 14:26] = 128
    assert gradient_error(edge, edge, tri) == 0
    assert gradient_error(soft, edge, tri) > 0
    assert gradient_error(soft, edge, np.zeros_like(tri)) == 0
    small = np.zeros_like(tri); small[10:30, 16:24] = 128   # cropping to the region's box changes nothing
    full = np.square(np.hypot(*gauss_gradient(soft)) - np.hypot(*gauss_gradient(edge)))
    assert gradient_error(soft, edge, small) == pytest.approx(full[small == 128].sum()/1000, rel=1e-5)


def test_connectivity_error_by_hand():
    gt = np.zeros((12, 12), np.float32); gt[2:6, 2:6] = 1
    al = gt.copy(); al[9, 9] = 1             # an island cut off at every threshold: phi 0 vs 1
    assert connectivity_error(gt, gt) == 0
    assert connectivity_error(al, gt) == pytest.approx(1/1000)
    tri = np.zeros((12, 12), np.uint8); tri[8:, 8:] = 128
    assert connectivity_error(al, gt, tri) == pytest.approx(1/1000)
    assert connectivity_error(al, gt, np.zeros_like(tri)) == 0
    al[9, 9] = 0.1                           # d = 0.1 < theta: phi unchanged
    assert connectivity_error(al, gt) == 0
    edge = np.zeros((40, 40)); edge[:, 20:] = 1
    assert connectivity_error(cv2.GaussianBlur(edge, (0, 0), 2), edge) > 0


def test_iou_rectangles():
    A = np.zeros((60, 60), bool); A[10:30, 10:40] = True     # 600 px
    B = np.zeros((60, 60), bool); B[20:40, 20:50] = True     # 600 px, overlap 10x20
    assert iou(A, B) == pytest.approx(200/1000)
    assert iou(A.astype(np.float32)*0.9, B.astype(np.uint8)*255) == pytest.approx(0.2)
    assert iou(A, A) == 1.0 and iou(A, np.zeros_like(A)) == 0.0
    assert iou(np.zeros_like(A), np.zeros_like(A)) == 1.0


def _brute_bf(p, g, tol):
    bp, bg = np.argwhere(boundary(p)), np.argwhere(boundary(g))
    d = np.sqrt(((bp[:, None, :] - bg[None, :, :])**2).sum(-1))
    P, R = (d.min(1) <= tol).mean(), (d.min(0) <= tol).mean()
    return 2*P*R/(P+R), P, R


def test_boundary_f():
    A = np.zeros((60, 60), bool); A[10:30, 10:40] = True
    assert boundary(A).sum() == 2*(20+30) - 4
    assert boundary(np.ones((5, 5), bool)).sum() == 0
    assert boundary_f(A, A) == (1.0, 1.0, 1.0)
    assert boundary_f(A, np.roll(A, 1, axis=1)).f == 1.0
    shifted = np.roll(A, 5, axis=1)
    f, p, r = boundary_f(A, shifted)
    assert 0 < f < 1 and p == pytest.approx(r)
    np.testing.assert_allclose(boundary_f(A, shifted), _brute_bf(A, shifted, 2))
    assert boundary_f(A, np.zeros_like(A)) == (0.0, 0.0, 0.0)
    assert boundary_f(np.zeros_like(A), np.zeros_like(A)) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize('tol', [1, 1.5, 2, 2.3, 3.2])
def test_near_is_thresholded_distance_transform(tol):
    rnd = cv2.GaussianBlur(np.random.default_rng(1).random((80, 90)), (0, 0), 3) > 0.5
    b = boundary(rnd)
    dt = cv2.distanceTransform((~b).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    np.testing.assert_array_equal(near(b, tol), dt <= tol)


def test_loaders_without_data(tmp_path, monkeypatch):
    monkeypatch.setenv('FLIXNB_DATA', str(tmp_path))
    for loader in LOADERS:
        assert loader() == []
        with pytest.raises(unittest.SkipTest, match="not found"): loader(required=True)
    assert dataset_dir('viton') is None
    with pytest.raises(DataMissing, match=str(tmp_path)): dataset_dir('cihp', required=True)
    with pytest.raises(ValueError, match="'Trimap1' or 'Trimap2'"): alphamatting_items('Trimap3')


def test_real_data_loaders():
    "Skips (cleanly, with the path in the message) where the research data is absent."
    am = alphamatting_items(limit=1, required=True)
    it = am[0]
    assert it.image.dtype == np.uint8 and it.image.shape[2] == 3
    assert it.trimap.shape == it.alpha.shape == it.image.shape[:2] and it.alpha.dtype == np.float32
    assert set(np.unique(it.trimap)) <= {0, 128, 255}
    assert 0 <= it.alpha.min() and it.alpha.max() <= 1
    for loader in LOADERS[1:]:
        x = loader(limit=1, required=True)[0]
        assert x.mask.dtype == bool and x.mask.shape == x.image.shape[:2]
        assert 0.05 < x.mask.mean() < 0.95
