"""The analyst notebook runs end to end on the bundled sample (not just present)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_sse_shares_notebook__sample_data__runs_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publish the sample into a temporary curated folder and execute the notebook."""
    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "data" / "raw", raw)
    curated = tmp_path / "curated"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "--raw",
            str(raw),
            "--curated",
            str(curated),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    monkeypatch.setenv("SSE_CURATED", str(curated))
    notebook = nbformat.read(ROOT / "notebooks" / "sse_shares.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()
    outputs = [
        o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was drawn"
