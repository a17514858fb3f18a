"""results/*.md are generated from the CSV files beside them by one command,
python -m jax_ser.results."""
import pathlib
import shutil
import subprocess
import sys

import pytest

from jax_ser.evaluate import results_pages as results

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


@pytest.fixture
def copy(tmp_path):
    """A copy of results/ with the committed pages removed, so every page must be written anew."""
    target = tmp_path / "results"
    shutil.copytree(RESULTS, target)
    for page in target.glob("*.md"):
        page.unlink()
    return target


def test_the_command_regenerates_every_committed_page_byte_for_byte(copy):
    completed = subprocess.run([sys.executable, "-m", "jax_ser.results", "--dir", str(copy)],
                               cwd=REPO, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    committed = sorted(p.name for p in RESULTS.glob("*.md"))
    assert committed, "results/ holds no pages"
    assert sorted(p.name for p in copy.glob("*.md")) == committed
    for name in committed:
        assert (copy / name).read_bytes() == (RESULTS / name).read_bytes(), (
            f"results/{name} differs from what python -m jax_ser.results writes: rerun it")


def test_every_page_has_its_command_and_environment(copy):
    for page in results.generate(copy):
        text = page.read_text()
        assert "```bash\npython -m " in text or "```bash\nlaunch/" in text, page.name
        assert "\nEnvironment: " in text and "JAX 0." in text, page.name


def test_a_changed_number_changes_its_page_and_its_mean(copy):
    csv_path = copy / "ravdess_resnet18_mel.csv"
    before = results.generate(copy) and (copy / "ravdess_resnet18_mel.md").read_text()
    assert "| 0 | 5 | 0.511 ± 0.091 |" in before
    text = csv_path.read_text()
    assert "0,01–04,0,0.613," in text
    csv_path.write_text(text.replace("0,01–04,0,0.613,", "0,01–04,0,0.713,"))
    results.generate(copy)
    after = (copy / "ravdess_resnet18_mel.md").read_text()
    assert after != before
    assert "| 0 | 01–04 | 0 | 0.713 |" in after and "| 0 | 01–04 | 0 | 0.613 |" not in after
    assert "| 0 | 5 | 0.531 ± 0.124 |" in after  # seed 0's mean UA moved by 0.1 / 5


def test_mean_std_is_the_sample_std():
    assert results.mean_std([0.5, 0.7]) == "0.600 ± 0.141"
    assert results.mean_std([0.25]) == "0.250"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("0.613", "0.6l3", 1), "line 15: column 'ua': '0.6l3' is not a number"),
    (lambda t: t.replace(",963\n", ",963,99\n"), "line 15: 10 fields, the header row has 9"),
    (lambda t: t.replace("# environment:", "# environmnet:"), "expected '# KEY: value'"),
    (lambda t: "\n".join(l for l in t.splitlines() if not l.startswith("# command:")),
     "no '# command:' line"),
    (lambda t: t.replace("# mean: ua,", "# mean: uar,"), "column 'uar'"),
])
def test_a_malformed_csv_stops_with_a_message_naming_file_line_and_fault(copy, edit, message):
    csv_path = copy / "ravdess_resnet18_mel.csv"
    csv_path.write_text(edit(csv_path.read_text()))
    with pytest.raises(results.ResultsError, match="ravdess_resnet18_mel.csv") as error:
        results.generate(copy)
    assert message in str(error.value)
    completed = subprocess.run([sys.executable, "-m", "jax_ser.results", "--dir", str(copy)],
                               cwd=REPO, capture_output=True, text=True, check=False)
    assert completed.returncode != 0 and message in completed.stderr
