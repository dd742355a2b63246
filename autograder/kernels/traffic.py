"""Global-memory traffic of a CUDA C kernel, read from the code the compiler makes (PTX).

A fused kernel reads each input once and writes its output once; an unfused chain writes every
intermediate to global memory and reads it back. Whether a kernel does the one or the other is
a property of the code the GPU runs, so it is read there: NVRTC compiles the source as
`cupy.RawKernel` would (`nvrtc.check_compiles`), and each global load and store of the PTX is
traced back to the kernel parameter (or `__device__` array) its address is computed from.
The compiler may have removed a store the source wrote, or kept one it could not prove dead:
the PTX says which.

    t = global_traffic(SOURCE, "my_kernel")
    t.loads["x"], t.stores["out"], t.stores_elsewhere, t.loads["out"]

Known limitations: static counts (an instruction in a loop counts once: compare counts of
one kernel, not trip counts); an address computed from two parameters at once is counted as
`ambiguous`, not as either; needs NVRTC (`None` without it); the first entry of that name only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .nvrtc import check_compiles
from .shim import param_names

_REG = re.compile(r"%[A-Za-z_]\w*")
_GLOBAL_VAR = re.compile(r"^\s*\.global\s+[^;]*?\b([A-Za-z_$][\w$]*)\s*(?:\[[^\]]*\])?\s*(?:=[^;]*)?;", re.M)


@dataclass(frozen=True)
class Traffic:
    """Global loads and stores in a kernel's PTX, by the buffer each address comes from."""
    kernel: str
    loads: dict[str, int] = field(default_factory=dict)     # parameter or __device__ name -> loads
    stores: dict[str, int] = field(default_factory=dict)
    ambiguous: int = 0                                      # addresses from two buffers at once
    symbols: tuple[str, ...] = ()                           # __device__ arrays the kernel touches
    ptx: str = ""                                           # the entry's PTX body

    def describe(self) -> str:
        fmt = lambda d: ", ".join(f"{k} {v}" for k, v in d.items() if v) or "none"  # noqa: E731
        return f"{self.kernel}: global loads {fmt(self.loads)}; global stores {fmt(self.stores)}"


def _entry(ptx: str, name: str) -> tuple[list[str], str]:
    """(parameter symbols in order, body) of the `.entry name`."""
    m = re.search(r"\.entry\s+" + re.escape(name) + r"\s*\(([^)]*)\)", ptx)
    if not m:
        raise ValueError(f"no .entry {name} in the PTX")
    params = re.findall(r"\.param\s+[^,]*?\s([\w$]+)\s*(?:,|$)", m.group(1).strip() + ",")
    start = ptx.index("{", m.end())
    depth, i = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(ptx[i], 0)
        if depth == 0:
            return params, ptx[start + 1:i]
        i += 1


def _instructions(body: str):
    """(opcode, operands) of each instruction, predicates and labels stripped."""
    for raw in body.split(";"):
        line = re.sub(r"//[^\n]*", "", raw).strip()
        line = re.sub(r"^(?:[$\w]+:\s*)+", "", line)          # labels
        line = re.sub(r"^@!?%\w+\s+", "", line)                # predicate guard
        if not line or line.startswith((".", "{", "}")):
            continue
        op, _, rest = line.partition(" ") if " " in line else line.partition("\t")
        operands = [o.strip() for o in re.split(r",(?![^{]*\})", rest.replace("\t", " ")) if o.strip()]
        yield op.strip(), operands


def _origins(instrs, params: list[str], symbols: set[str]) -> dict[str, frozenset]:
    """For each register, the buffers (parameter index or symbol) its value is computed from:
    a fixed point over every definition (loops give a register several)."""
    origin: dict[str, frozenset] = {}
    changed = True
    while changed:
        changed = False
        for op, ops in instrs:
            if not ops or op.startswith(("st.", "bra", "ret", "bar", "red.", "exit")):
                continue
            dest, srcs = ops[0], ops[1:]
            if not _REG.fullmatch(dest):
                continue
            new: set = set()
            for s in srcs:
                for p in re.findall(r"\[([\w$]+)\]", s):
                    if p in params and op.startswith(("ld.param.u64", "ld.param.b64")):  # pointers
                        new.add(params.index(p))
                for reg in _REG.findall(s):
                    new |= origin.get(reg, frozenset())
                new |= {w for w in re.findall(r"[A-Za-z_$][\w$]*", s) if w in symbols}
            if op.startswith("ld.global"):
                new = set()       # a value loaded from memory is data, not an address
            old = origin.get(dest, frozenset())
            if not new <= old:
                origin[dest] = old | frozenset(new)
                changed = True
    return origin


def global_traffic(source: str, name: str, options=()) -> Traffic | None:
    """The global loads and stores of kernel `name`, by buffer; None without NVRTC."""
    res = check_compiles(source, name, options)
    if not res.available:
        return None
    params, body = _entry(res.ptx, name)
    names = param_names(source, name) or [f"argument {i}" for i in range(len(params))]
    symbols = set(_GLOBAL_VAR.findall(res.ptx))
    instrs = list(_instructions(body))
    origin = _origins(instrs, params, symbols)
    loads = {n: 0 for n in names}
    stores = {n: 0 for n in names}
    ambiguous, touched = 0, set()
    for op, ops in instrs:
        kind = "load" if op.startswith("ld.global") else "store" if op.startswith(("st.global", "red.global")) \
            else "both" if op.startswith("atom.global") else None
        if kind is None:
            continue
        addr = next((o for o in ops if o.startswith("[")), "")
        src = set().union(*(origin.get(r, frozenset()) for r in _REG.findall(addr))) if _REG.search(addr) else set()
        src |= {w for w in re.findall(r"[A-Za-z_$][\w$]*", addr) if w in symbols}
        if len(src) != 1:
            ambiguous += 1
            continue
        (buf,) = src
        label = names[buf] if isinstance(buf, int) and buf < len(names) else str(buf)
        if isinstance(buf, str):
            touched.add(buf)
        for k, table in (("load", loads), ("store", stores)):
            if kind in (k, "both"):
                table[label] = table.get(label, 0) + 1
    return Traffic(name, loads, stores, ambiguous, tuple(sorted(touched)), body)
