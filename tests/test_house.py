"""Issue 18 — the house: layers whose imports point one way (no cycles, nothing from a higher layer), no private name
imported across modules, and every built-in stage reachable the way a third party's is."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
from check_imports import graph, cycles, upward, LAYERS


def test_no_private_imports_across_modules():
    mods, edges, private = graph()
    assert len(mods) > 20 and sum(map(len, edges.values())) > 50            # it did read the package
    assert not private, private


def test_no_import_cycles_and_layers_point_down():
    mods, edges, _ = graph()
    assert cycles(mods, edges) == []
    assert upward(edges) == []
    # the folder tree is the layers: every sub-package is one, and each holds modules
    pkgs = {m.split('.')[1] for m in mods if m.count('.') >= 2}
    assert pkgs == set(LAYERS[1:]), pkgs


def test_every_stage_is_an_entry_point():
    "Each `@stage(\"name\")` in the package is in pyproject's `flixnb.stages` entry points, pointing at that function."
    import re, tomllib
    root = Path(__file__).resolve().parents[1]
    eps = tomllib.loads((root/'pyproject.toml').read_text())['project']['entry-points']['flixnb.stages']
    found = {}
    for f in (root/'flixnb').rglob('*.py'):
        mod = '.'.join(f.relative_to(root).with_suffix('').parts)
        for name, fn in re.findall(r'@stage\(\s*["\']([\w-]+)["\'][^\n]*\n(?:@[^\n]*\n)*def (\w+)', f.read_text(encoding='utf-8')):
            found[name] = f"{mod}:{fn}"
    assert len(found) >= 10, found
    assert found == eps, {k: (found.get(k), eps.get(k)) for k in set(found) | set(eps) if found.get(k) != eps.get(k)}


def test_old_import_paths_still_work():
    import importlib, warnings
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        old = importlib.import_module('flixnb.pipeline')
        from flixnb.tryon import tryon as old_tryon
    from flixnb.run import pipeline
    from flixnb.tryon.warp import tryon
    assert old is pipeline and old_tryon is tryon
    assert {'flixnb.run.pipeline', 'flixnb.tryon.warp.tryon'} <= {m for x in w for m in str(x.message).split() if m.startswith('flixnb.')}


def test_the_checker_sees_a_cycle_and_a_private_import(tmp_path):
    import check_imports as C
    pkg = tmp_path/'flixnb'; pkg.mkdir()
    (pkg/'__init__.py').write_text('')
    (pkg/'a.py').write_text('from .b import f\ndef g(): from flixnb.b import _h\n')
    (pkg/'b.py').write_text('def f(): from flixnb import a\ndef _h(): pass\n')
    old = C.root; C.root = pkg
    try: mods, edges, private = C.graph()
    finally: C.root = old
    assert C.cycles(mods, edges) == [['flixnb.a', 'flixnb.b']] and [p[2] for p in private] == ['_h']
    (pkg/'stages').mkdir(); (pkg/'ui').mkdir()
    (pkg/'stages'/'s.py').write_text('def f():\n    from flixnb.ui import w\n'); (pkg/'ui'/'w.py').write_text('')
    C.root = pkg
    try: mods, edges, _ = C.graph()
    finally: C.root = old
    assert C.upward(edges) == [('flixnb.stages.s', 'flixnb.ui.w')]
