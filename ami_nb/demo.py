"""``python -m ami_nb.demo``: an hour of simulated calls, analysed, in well under a minute.

Runs ``notebooks/02_call_analytics.ipynb`` headless (nbclient, against the embedded simulated PBX), writes the
executed notebook as HTML to ``out/`` and prints the headline tables: calls by disposition and wait times. The
cells tagged ``headline`` in the notebook give what is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NOTEBOOK = "02_call_analytics.ipynb"


def find_notebook(name: str = NOTEBOOK) -> Path:
    """The notebook in the source checkout (``notebooks/`` beside the package), else in the working directory."""
    here = Path(__file__).resolve().parent.parent / "notebooks" / name
    for cand in (here, Path.cwd() / "notebooks" / name):
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"cannot find notebooks/{name}: run the demo from a checkout of the ami_nb repository "
        "(the notebooks are not part of the installed package), or pass --notebook PATH"
    )


def execute(path: Path, *, timeout: float = 120.0, kernel: str = "python3") -> Any:
    """Execute a notebook in its own folder; returns the executed ``nbformat`` node."""
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the demo needs nbclient and nbconvert: pip install ami_nb[notebooks]") from exc
    from jupyter_client import KernelManager

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="ami_nb-kernel-") as sockets:
        # local IPC sockets: the kernel is reachable by this user only (and jupyter_client stays quiet about TCP)
        km = KernelManager(kernel_name=kernel, transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        finally:
            if km.has_kernel:  # nbclient leaves a kernel it was given running
                km.shutdown_kernel(now=True)
    return nb


def to_html(nb: Any, out: Path) -> Path:
    """Write an executed notebook as a standalone HTML page."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def headline(nb: Any) -> str:
    """The text the ``headline``-tagged cells printed."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "headline" not in cell.get("metadata", {}).get("tags", []):
            continue
        text = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text.append(output.get("text", ""))
            elif output.get("output_type") in ("execute_result", "display_data"):
                text.append(output.get("data", {}).get("text/plain", "") + "\n")
        parts.append("".join(text).strip("\n"))
    return "\n\n".join(p for p in parts if p) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ami_nb.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--notebook", type=Path, help=f"the notebook to run (default: notebooks/{NOTEBOOK})")
    ap.add_argument("--out", type=Path, default=Path("out"), help="folder for the HTML page (default: out/)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per cell (default: 120)")
    args = ap.parse_args(argv)
    try:
        path = args.notebook or find_notebook()
        if not path.is_file():
            raise FileNotFoundError(f"no notebook at {path}")
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    print(f"running {path.name} against the embedded simulated PBX ...", flush=True)
    nb = execute(path, timeout=args.timeout)
    html = to_html(nb, args.out / path.with_suffix(".html").name)
    print()
    print(headline(nb))
    print(f"executed notebook: {html.resolve()}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
