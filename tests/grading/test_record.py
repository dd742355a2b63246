"""GPU recording: never on a machine without a GPU; its dry run, bundle and schema on a CPU."""
import json
import zipfile
from pathlib import Path

import pytest

from autograder import device, results
from autograder.grading import bundle, record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"


def test_gpu_figures_refuse_a_machine_without_gpu(capsys, monkeypatch):
    """CPU figures must never be saved as a GPU's: no GPU, nothing written, exit status 2."""
    monkeypatch.setenv("COURSE_FORCE_CPU", "1")
    device.detect.cache_clear()
    saved = []
    monkeypatch.setattr(results, "save", lambda *a, **k: saved.append(a))
    try:
        assert record.main([]) == 2
    finally:
        device.detect.cache_clear()
    assert not saved and "No GPU" in capsys.readouterr().err
    assert "ch01_cpu_vs_gpu" in record.chapters()


def test_only_selects_by_chapter_number_or_name():
    assert record.wanted("ch05_matmul_layer", ["ch01", "ch05"])
    assert not record.wanted("ch10_lean_optimizers", ["ch01"]) and record.wanted("solutions", [])
    assert record.wanted("meter_agreement", ["meter_agreement"])


def _keys(x):
    """The shape of a results file: dict keys all the way down (a list: its first item's)."""
    if isinstance(x, dict):
        return {k: _keys(v) for k, v in x.items()}
    if isinstance(x, list) and x:
        return [_keys(x[0])]
    return None


def _fake_bundle(folder: Path) -> Path:
    """A bundle of one tiny pure-Python wheel, laid out as pip download leaves one."""
    folder.mkdir()
    with zipfile.ZipFile(folder / "course_probe-1.0-py3-none-any.whl", "w") as z:
        z.writestr("course_probe.py", "HERE = True\n")
        z.writestr("course_probe-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: course-probe\nVersion: 1.0\n")
    bundle.write_manifest(folder)
    return folder


def test_dry_run_walks_every_step_into_the_schema_the_pages_read(tmp_path, capsys):
    """The whole command on the CPU backends, the bundle installed offline first: every chapter's
    file written, marked as a dry run, in the shape of the fixtures the pages' GPU halves are
    built from; nothing written to autograder/results/."""
    before = sorted(results.DIR.glob("*.json")) if results.DIR.is_dir() else []
    out = tmp_path / "out"
    assert record.main(["--dry-run", "--wheels", str(_fake_bundle(tmp_path / "b")), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "bundle installed" in said and "DRY RUN" in said and "== solutions" in said
    assert (tmp_path / "b" / "site" / "course_probe.py").exists()
    for name in [*record.recorders(), "meter_agreement"]:
        data = json.loads((out / f"{name}.json").read_text())
        assert data["environment"]["dry_run"] is True
        fixture = json.loads((FIXTURES / f"{name}.json").read_text())
        assert _keys(data["figures"]) == _keys(fixture["figures"]), f"{name}: regenerate the fixture"
        assert set(data["environment"]) == set(fixture["environment"])
    steps = json.loads((out / "run.json").read_text())["steps"]
    assert not [s for s, r in steps.items() if r.startswith("failed")]
    assert (sorted(results.DIR.glob("*.json")) if results.DIR.is_dir() else []) == before


def test_a_failing_step_is_reported_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(record, "recorders", lambda: ["ch03_thread_hierarchy", "no_such_chapter"])
    assert record.main(["--dry-run", "--out", str(tmp_path), "--only", "ch03,no_such_chapter,compute_sanitizer"]) == 1
    steps = json.loads((tmp_path / "run.json").read_text())["steps"]
    assert steps["no_such_chapter"].startswith("failed") and not steps["ch03_thread_hierarchy"].startswith("failed")
    assert "tool" in json.loads((tmp_path / "compute_sanitizer.json").read_text())["figures"]


def test_a_dry_run_file_never_passes_for_a_gpu_recording(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "DIR", tmp_path)
    results.save("ch03_thread_hierarchy", {"threads": None}, tmp_path, dry=True)
    assert results.load("ch03_thread_hierarchy") is None
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(FIXTURES))
    assert "fixture" in results.label(results.load("ch03_thread_hierarchy"))


def test_the_bundle_holds_what_the_run_needs_less_what_the_gpu_machine_has(tmp_path):
    """The run's needs (RUN_NEEDS and their requirements on CPython 3.12 x86-64 Linux, read from
    this environment's metadata) less the GPU machine's list; installed without pip. A bundle
    made with `dev.py gpu-bundle` (gpu-bundle/, if present) must hold all of it and none of
    what the machine has."""
    need = bundle.closure()
    assert {"nbclient", "nbformat", "ipykernel", "jupyter-client", "ipywidgets", "pyzmq", "tqdm"} <= need
    assert not need & bundle.GPU_MACHINE_HAS and "nbgrader" not in need
    cmd = bundle.pip_download_command(tmp_path)
    assert {"--only-binary=:all:", "3.12", "cp312", "manylinux2014_x86_64"} <= set(cmd)
    made = Path(record.ROOT) / "gpu-bundle" / bundle.MANIFEST
    if made.exists():
        manifest = json.loads(made.read_text())
        names = {p["name"] for p in manifest["packages"]}
        assert need <= names and not names & bundle.GPU_MACHINE_HAS
        assert manifest["total_bytes"] < 30 * 2**20


def test_the_install_refuses_a_wheel_that_does_not_match_its_manifest(tmp_path):
    b = _fake_bundle(tmp_path / "b")
    assert (bundle.install(b) / "course_probe.py").exists()
    (b / "course_probe-1.0-py3-none-any.whl").write_bytes(b"not a wheel")
    (b / "site" / ".bundle-manifest.json").unlink()
    with pytest.raises(RuntimeError, match="sha256"):
        bundle.install(b)
