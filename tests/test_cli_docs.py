"""An installed user finds their way: `exodiff init`, `exodiff docs`, the gallery in `exodiff presets`, help that
points at what is installed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import xarray as xr

from exodiff import cli, data
from exodiff.scenario.core import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def test_init_writes_a_commented_scenario_that_validates_and_runs(tmp_path, capsys):
    f = tmp_path / "mine.toml"
    assert cli.main(["init", str(f)]) == 0
    text = f.read_text()
    assert text.count("\n#") >= 10  # commented, not a bare table
    sc = load_scenario(f)
    assert sc.name == "My first scenario"
    out = tmp_path / "out"
    assert cli.main(["run", str(f), "-o", str(out), "--quiet", "--no-plots"]) == 0
    with xr.open_dataset(out / "result.nc") as ds:
        assert float(ds["time"][-1]) == 24.0
        # the film is washed off at 12 h, as its comment says
        removed = float(ds["fraction"].sel(compartment="removed")[-1])
        assert removed > 0.99
    assert "removed" in capsys.readouterr().out


def test_init_never_overwrites(tmp_path, capsys):
    f = tmp_path / "mine.toml"
    f.write_text("# mine\n")
    assert cli.main(["init", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"exodiff: error: {f}: already exists; expected a new file name (exodiff init never overwrites)"]
    assert f.read_text() == "# mine\n"
    assert cli.main(["init", str(tmp_path / "no" / "such" / "dir.toml")]) == 2


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_init_where_nothing_can_be_written_is_one_line(capsys):
    """A folder that exists but takes no new file (/proc; /sys gave a PermissionError traceback)."""
    assert cli.main(["init", "/proc/exodiff-starter.toml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be created" in err[0] and "Traceback" not in err[0], err


def test_init_on_a_full_disk_leaves_nothing(tmp_path, capsys, monkeypatch):
    """A write that fails after the file was made (a full disk) removes it: outputs whole or not at all."""
    import builtins

    real_open = builtins.open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, _text):
            raise OSError(28, "No space left on device")

    def fake_open(path, mode="r", *a, **k):
        fh = real_open(path, mode, *a, **k)
        return Full(fh) if mode == "x" else fh

    monkeypatch.setattr(builtins, "open", fake_open)
    target = tmp_path / "new.toml"
    assert cli.main(["init", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left" in err[0], err
    assert not target.exists()


def test_init_from_the_gallery(tmp_path, capsys):
    f = tmp_path / "caffeine.toml"
    assert cli.main(["init", str(f), "--example", "topical_caffeine"]) == 0
    assert f.read_bytes() == (ROOT / "scenarios" / "topical_caffeine.toml").read_bytes()
    assert cli.main(["init", str(tmp_path / "x.toml"), "--example", "no_such"]) == 2
    assert "expected a scenario of the gallery: " in capsys.readouterr().err


def test_presets_lists_the_gallery(capsys):
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    gallery = out[out.index("scenario gallery"):]
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        assert re.search(rf"^  {path.stem}\s", gallery, re.M), path.stem


def test_docs_prints_the_installed_pages(capsys):
    assert cli.main(["docs"]) == 0
    listing = capsys.readouterr().out
    for topic in cli.DOC_TOPICS:
        assert (ROOT / "docs" / f"{topic}.md").is_file(), topic  # every topic has its page
        assert re.search(rf"^  {topic}\s", listing, re.M)
    assert cli.main(["docs", "scenario"]) == 0
    assert capsys.readouterr().out == (ROOT / "docs" / "scenario.md").read_text()
    assert cli.main(["docs", "sweeps", "--path"]) == 0
    assert Path(capsys.readouterr().out.strip()) == data.shared_dir("docs") / "sweeps.md"
    assert cli.main(["docs", "sweep"]) == 2
    assert 'did you mean "sweeps"?' in capsys.readouterr().err


def test_every_shipped_page_is_in_the_wheel_config():
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    assert "docs/*.md" in cfg["share/exodiff/docs"] and "scenarios/*.toml" in cfg["share/exodiff/scenarios"]


@pytest.mark.parametrize("command", [[], ["run"], ["sweep"], ["compare"], ["fit"], ["validate"], ["init"]])
def test_help_points_at_installed_docs(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    out = capsys.readouterr().out
    assert not re.search(r"docs/\w+\.md", out), out  # a path of the source tree an installed user does not have
    if not command:
        assert "exodiff docs" in out and "exodiff init" in out
