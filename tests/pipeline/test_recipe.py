"""The recipe runs unfinished steps in order, skips finished ones and stops on a failure (so a re-run resumes)."""
import pytest

from pipeline.profile import load_profile
from pipeline.recipe import recipe_steps, run_recipe
from pipeline.run_dir import RunDir


def _run(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create(load_profile("tiny"))
    return run


def _executor(run, calls, fail_on=None):
    steps = {s.argv: s for s in recipe_steps(run, "demo-train")}

    def execute(argv):
        calls.append(argv)
        if fail_on and fail_on in argv:
            return 3
        if steps[tuple(argv)].done_marker is not None:
            marker = run.root / steps[tuple(argv)].done_marker
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("done")
        return 0

    return execute


def test_steps_cover_the_whole_recipe_in_dependency_order(tmp_path):
    names = [s.name for s in recipe_steps(_run(tmp_path), "demo-train")]
    assert names.index("synthetic data") < names.index("codec") < names.index("tokenize") < names.index("stage semantic")
    assert names[-3:] == ["stage semantic", "stage coarse", "stage fine"]


def test_failure_stops_and_rerun_resumes_after_finished_steps(tmp_path):
    run = _run(tmp_path)
    calls: list = []
    with pytest.raises(RuntimeError, match="re-run to resume"):
        run_recipe(run, "demo-train", _executor(run, calls, fail_on="tokenize"), log=lambda s: None)
    first = len(calls)
    assert calls[-1][0] == "tokenize"
    calls.clear()
    log: list[str] = []
    run_recipe(run, "demo-train", _executor(run, calls), log=log.append)
    assert calls[0][0] == "tokenize" and len(calls) == len(recipe_steps(run, "demo-train")) - first + 1
    assert sum("done, skipped" in line for line in log) == first - 1
    assert any("ETA" in line for line in log)


def test_optional_steps_follow_the_profile(tmp_path):
    run = RunDir(tmp_path / "m")
    run.create(load_profile("tiny", ["semantic.source=mel", "melody.kind=learned"]))
    names = [s.name for s in recipe_steps(run, "demo-train")]
    assert "semantic ssl" not in names and "melody" in names


def test_step_that_does_not_produce_its_output_is_an_error(tmp_path):
    run = _run(tmp_path)
    with pytest.raises(RuntimeError, match="is missing"):
        run_recipe(run, "demo-train", lambda argv: 0, log=lambda s: None)


def test_embedded_scale_asks_for_more_clips_per_piece(tmp_path):
    synth = recipe_steps(_run(tmp_path), "embedded")[0].argv
    assert "5000" in synth and "data.windows_per_piece=6" in synth
    assert not any(a.startswith("data.windows_per_piece") for a in recipe_steps(_run(tmp_path), "demo-train")[0].argv)
