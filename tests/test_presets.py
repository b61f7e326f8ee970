"Marketplace presets: every preset loads; bad files are refused with file, field and choices; amazon-main output passes an independent checker."
import os, sys, glob, json
from pathlib import Path
import numpy as np, pytest, yaml
from flixnb.core import data_dir
from flixnb.market.presets import load_preset, available_presets, PresetError
from flixnb.run.pipeline import process_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent/'tools'))
import amazon_check

ALL = ['amazon-main', 'amazon-onmodel', 'zalando', 'myntra', 'ajio', 'ebay', 'google-merchant', 'shopify']

@pytest.mark.parametrize('name', ALL)
def test_presets_load(name):
    p = load_preset(name)
    assert p.source.startswith('http') and p.checked
    W, H = p.canvas_target()
    if p.aspect: assert abs(W/H - p.aspect) < 0.01

def test_bad_preset(tmp_path):
    src = yaml.safe_load(available_presets()['amazon-main'].read_text())
    f = tmp_path/'typo.yaml'; f.write_text(yaml.safe_dump({**src, 'shaddow': 'drop'}))
    with pytest.raises(PresetError, match=r"typo.yaml: field 'shaddow': unknown field; valid choices: .*shadow"): load_preset(f)
    f.write_text(yaml.safe_dump({k: v for k, v in src.items() if k != 'fill'}))
    with pytest.raises(PresetError, match=r"typo.yaml: field 'fill': missing"): load_preset(f)

@pytest.fixture(scope='module')
def sample_paths(tmp_path_factory):
    from flixnb.samples import write_samples, SAMPLES
    d = tmp_path_factory.mktemp('samples')
    return write_samples(d, names=list(SAMPLES), mp=2, with_alpha=False)

def test_amazon_main_samples(sample_paths, tmp_path):
    am = load_preset('amazon-main'); alarms = []
    for p in sample_paths:
        rec = process_file(p, 'catalog-basic', tmp_path, preset=am)
        assert rec['status'] in ('done', 'qc-failed'), rec['error']                  # written either way
        assert (rec['status'] == 'qc-failed') == (not rec['qc']['pass']), rec           # a QC alarm is its own status
        ok, why = amazon_check.check(rec['output'])
        assert ok, (p, why)                                           # every sample passes Amazon's rules
        if not rec['qc']['pass']: alarms.append((Path(p).stem, rec['qc']['reasons']))
    # QC alarms on the samples: none expected, except (a) the keyer leaves a small enclosed alpha hole in the white
    # tee on white (tee-white-on-white), which QC reports as a pin-hole — a clipping issue, not QC's; (b) an alarm
    # that the sample's exact alpha raises too: the fringe's real gaps between crossing strands are pin-holes to QC
    from flixnb.samples import sample
    from flixnb.market.presets import apply_preset
    from flixnb.market.qc import qc_image
    def inherent(name, reasons):
        c = apply_preset((s := sample(name, mp=2)).replace(alpha=s.layers['gt_alpha']), am)
        exact = qc_image(c.image, am, info=c.meta['compose'])['reasons']
        kind = lambda x: x.split(maxsplit=1)[-1]                # '12 pin-hole(s) in the subject' → 'pin-hole(s) …'
        return all(any(kind(r) == kind(e) for e in exact) for r in reasons)
    # (c) since QC judges the written file (as `flixnb qc` does), the grey smudge of backdrop the keyer leaves in the gap
    # between the trousers' legs splits that gap and QC counts the closed-off part as a pin-hole — a clipping defect (issue 20)
    known = {'tee-white-on-white', 'trousers-denim-green'}
    left = [(n, r) for n, r in alarms if n not in known and not inherent(n, r)]
    assert not left, left

def test_amazon_main_ootd(tmp_path):
    files = sorted(glob.glob(str(data_dir()/'ootd'/'garment'/'*.jpg')))
    if not files: pytest.skip("ootd/garment not present")
    am = load_preset('amazon-main'); fails = []
    for p in files:
        rec = process_file(p, 'catalog-basic', tmp_path, preset=am)
        assert rec['status'] in ('done', 'qc-failed'), rec['error']                  # written either way
        assert (rec['status'] == 'qc-failed') == (not rec['qc']['pass']), rec           # a QC alarm is its own status
        ok, why = amazon_check.check(rec['output'])
        if not ok: fails.append((Path(p).name, why))
    print(f"{len(files)-len(fails)}/{len(files)} pass the independent Amazon checker; failures: {fails}")
    # known: white garments on white where the keyer's alpha is wrong (see the report); at most one of 31
    assert len(fails) <= 1, fails

def test_myntra_byte_range(sample_paths, tmp_path):
    # a source that carries Myntra's 1800×2400 canvas lands in its 500 KB – 1 MB (the quality searched); a 2 MP one,
    # upscaled to the 1500×2000 floor, is too smooth for 500 KB even at quality 100: QC says so, never silently
    from flixnb.samples import write_samples
    big, = write_samples(tmp_path/'6mp', names=['tee-navy-white'], mp=6, with_alpha=False)
    for src, must in ((big, True), (sample_paths[0], None)):
        rec = process_file(src, 'catalog-basic', tmp_path/'out'/Path(src).parent.name, preset=load_preset('myntra'))
        n = Path(rec['output']).stat().st_size
        ok = 500_000 <= n <= 1_000_000
        assert rec['qc']['checks']['file_size']['pass'] == ok        # never silently out of range
        if must: assert ok, (n, rec['qc']['reasons'])
