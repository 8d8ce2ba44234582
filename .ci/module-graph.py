#!/usr/bin/env python3
"""Checks that each crate's module graph is acyclic.

An edge A -> B is a path from module A that names module B (`use
crate::b::X`, `super::X`, `crate::b::f()` in code). Declaring a child (`mod
b;`) is not an edge, and neither is a child naming its parent (`super::X`)
or any ancestor: a parent owns its children and re-exports from them. Test modules are left out:
they reach into everything on purpose. Prints each cycle and exits 1 if any.

Usage: module-graph.py DIR...   (a crate with a src/ folder, or the folder
of a test binary's main.rs)
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_BLOCK = re.compile(r"\buse\s+(crate|super|self)::\{([^;]*)\};", re.S)


def modules(src):
    """{module path tuple: file}"""
    found = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("lib", "main", "mod"):
                parts = parts[:-1]
            if parts and parts[0] == "bin":
                continue
            found[tuple(parts)] = os.path.join(root, f)
    return found


def strip_tests(text):
    """Drops `#[cfg(test)] mod x { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def test_only(text):
    return set(re.findall(r"#\[cfg\(test\)\]\s*mod\s+(\w+)\s*;", text))


def resolve(mods, here, anchor, segs):
    base = {"crate": (), "super": here[:-1], "self": here}[anchor]
    segs = list(segs)
    while segs and segs[0] == "super":
        base, segs = base[:-1], segs[1:]
    best = base
    for k in range(1, len(segs) + 1):
        cand = base + tuple(segs[:k])
        if cand in mods:
            best = cand
        else:
            break
    return best


def graph(src):
    mods = modules(src)
    skip = set()
    for path, f in mods.items():
        for t in test_only(open(f).read()):
            skip.add(path + (t,))
    edges = {m: set() for m in mods if not any(m[: len(s)] == s for s in skip)}
    for here in edges:
        text = strip_tests(open(mods[here]).read())
        refs = [(a, s.split("::")[1:]) for a, s in PATH.findall(text)]
        for anchor, body in USE_BLOCK.findall(text):
            for item in re.split(r",(?![^{]*\})", body):
                item = item.strip().split(" as ")[0]
                if item:
                    refs.append((anchor, re.split(r"::", item.replace("{", "").replace("}", ""))))
        for anchor, segs in refs:
            segs = [s.strip() for s in segs if s.strip()]
            target = resolve(mods, here, anchor, segs)
            # A child naming an ancestor is not an edge (see the docstring).
            if target in edges and here[: len(target)] != target:
                edges[here].add(target)
    return edges


def cycles(edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in edges:
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(("crate",) + m)


bad = False
for crate in sys.argv[1:]:
    src = os.path.join(crate, "src")
    found = cycles(graph(src if os.path.isdir(src) else crate))
    for comp in found:
        bad = True
        print(f"{crate}: import loop among {', '.join(sorted(map(name, comp)))}")
    if not found:
        print(f"{crate}: acyclic")
sys.exit(1 if bad else 0)
