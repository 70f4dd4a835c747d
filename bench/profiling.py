"""Where the app's time goes while a case runs: py-spy samples the app process, and the samples
are summed per function so a run prints the top entries next to its numbers.

python -m bench --case "users/me, bearer" --profile profiles/   # writes profiles/<case>.txt

Each `<case>.txt` is py-spy's collapsed stacks (`frame;frame;… count`, loadable in speedscope or
`flamegraph.pl`); `<case>.top.md` lists the functions with the largest share of the samples,
inclusive (the function or anything it calls) and self. Only busy samples are taken (py-spy skips
idle threads), so while the floor is measured the app contributes nothing: the shares are of the
app's own work.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

TOP = 25
_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _slug(case: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-")


@asynccontextmanager
async def recording(pid: int, directory: Path | None, case: str) -> AsyncIterator[None]:
    """Samples `pid` for as long as the block runs (nothing when `directory` is None)."""
    if directory is None:
        yield
        return
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when it is not on PATH
    py_spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if py_spy is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy; it is a dev dependency)")
    raw = directory / f"{_slug(case)}.txt"
    process = await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
        "--nonblocking", "--output", str(raw),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(1)  # py-spy attaches before the first measured request
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        await process.wait()
    await asyncio.to_thread(_summarise, case, raw, directory / f"{_slug(case)}.top.md")


def _summarise(case: str, raw: Path, top: Path) -> None:
    if raw.exists():
        top.write_text(summary(case, raw.read_text()))


def _function(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({match['file']})"


def shares(collapsed: str) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples, and per function the samples it was on the stack (once per stack) and
    the samples it was the innermost frame."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        functions = [_function(frame) for frame in stack.split(";")]
        for function in set(functions):
            inclusive[function] += count
        own[functions[-1]] += count
    return total, inclusive, own


def summary(case: str, collapsed: str) -> str:
    total, inclusive, own = shares(collapsed)
    lines = [f"# {case}: {total} samples of the app process", ""]
    if not total:
        return "\n".join([*lines, "(no samples)"]) + "\n"
    lines += ["| inclusive | self | function |", "|---|---|---|"]
    ranked = [(f, n) for f, n in inclusive.most_common() if not _is_plumbing(f)]
    for function, count in ranked[:TOP]:
        lines.append(f"| {count / total:.1%} | {own[function] / total:.1%} | `{function}` |")
    packages: Counter[str] = Counter()
    for function, count in own.items():
        packages[_package(function)] += count
    lines += ["", "| self, by package | package |", "|---|---|"]
    for package, count in packages.most_common(12):
        lines.append(f"| {count / total:.1%} | {package} |")
    return "\n".join(lines) + "\n"


def _package(function: str) -> str:
    """`f (beanie/odm/documents.py)` → `beanie`; the project's own `app/…` → `app`."""
    path = function.rpartition("(")[2].rstrip(")")
    return path.split("/", 1)[0] if "/" in path else path


def _is_plumbing(function: str) -> bool:
    """Frames on nearly every stack (the event loop, uvicorn's entry) say nothing."""
    return any(
        part in function
        for part in (
            "(asyncio/",
            "(uvicorn/main.py",
            "(uvicorn/server.py",
            "(uvicorn/_compat.py",
            "(click/",
            "runpy",
            "<module>",
        )
    )
