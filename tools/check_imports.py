#!/usr/bin/env python
"""The house's import graph: modules, edges, cycles, and private names imported across modules (issue 18).

`python tools/check_imports.py` prints the figures; `--no-private` exits 1 on a private import (CI runs it: `make
sync-check`); `--strict` (what CI runs) also on an import cycle and on a module that imports from a layer above its own. Every
import counts, function-local ones included: a lazy import is still a dependency.

The layers, bottom to top (a module may import from its own layer and the ones below it):
foundation (core, metrics, io, samples, models: the top-level modules) → stages → market → learn → tryon → run → ui → measure.
`flixnb/__main__.py` (the `python -m flixnb` entry) is the one module allowed to sit on top of everything."""
import ast, sys
from pathlib import Path

PKG = 'flixnb'
LAYERS = ['foundation', 'stages', 'market', 'learn', 'tryon', 'run', 'ui', 'measure']
ENTRY = {'flixnb.__main__'}
root = Path(__file__).resolve().parents[1]/PKG

def module_name(p: Path) -> str:
    rel = p.relative_to(root.parent).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__': parts = parts[:-1]
    return '.'.join(parts)

def imports(p: Path):
    "(target module, imported name or None, line) for every flixnb import in the file."
    me = module_name(p); pkg = me if p.name == '__init__.py' else me.rsplit('.', 1)[0]
    tree = ast.parse(p.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split('.'); base = base[:len(base) - (node.level - 1)]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else: mod = node.module or ''
            if not mod.startswith(PKG): continue
            for a in node.names: yield mod, a.name, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(PKG + '.'): yield a.name, None, node.lineno

def graph():
    files = sorted(f for f in root.rglob('*.py') if f.name != '_modidx.py')
    mods = {module_name(f): f for f in files}
    edges, private = {}, []
    for m, f in mods.items():
        for tgt, name, line in imports(f):
            if name and f"{tgt}.{name}" in mods: tgt = f"{tgt}.{name}"; name = None   # from pkg import module
            if tgt == m or tgt not in mods: continue
            edges.setdefault(m, set()).add(tgt)
            if name and name.startswith('_') and not name.startswith('__'): private.append((m, tgt, name, line))
    return mods, edges, private

def cycles(mods, edges):
    "Strongly connected components with more than one module (Tarjan)."
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(mods):
        if v not in index: visit(v)
    return out

def layer(m: str) -> int:
    "Index in `LAYERS` of module `m` (a top-level module is the foundation)."
    p = m.split('.')
    return LAYERS.index(p[1]) if len(p) > 2 and p[1] in LAYERS else 0

def upward(edges):
    "(module, target) for each import of a module from a layer above the importer's."
    return sorted((m, t) for m, ts in edges.items() for t in ts if m not in ENTRY and layer(t) > layer(m))

if __name__ == '__main__':
    mods, edges, private = graph()
    cyc = cycles(mods, edges)
    lines = sum(len(f.read_text(encoding='utf-8').splitlines()) for f in mods.values())
    print(f"{len(mods)} modules, {lines} lines, {sum(map(len, edges.values()))} import edges, "
          f"{len(cyc)} import cycle(s), {len(private)} private name(s) imported across modules")
    for c in cyc: print("  cycle: " + ' ↔ '.join(c))
    for m, t, n, l in private: print(f"  private: {m}:{l} imports {t}.{n}")
    up = upward(edges)
    print(f"{len(up)} import(s) from a higher layer ({' → '.join(LAYERS)})")
    for m, t in up: print(f"  upward: {m} ({LAYERS[layer(m)]}) imports {t} ({LAYERS[layer(t)]})")
    if '--strict' in sys.argv and (cyc or private or up): sys.exit(1)
    if '--no-private' in sys.argv and private: sys.exit(1)
