"""The `strata bench` registry: every name resolves to a benchmark function, eval's benchmarks stay below the
pipeline, and a run writes one JSON of figures."""
import ast
import inspect
import json
from pathlib import Path

from pipeline.bench.registry import BENCHMARKS, resolve, run_benchmarks
from pipeline.cli import main

EVAL_BENCH = Path(__file__).resolve().parents[3] / "eval" / "bench"


def test_every_registered_benchmark_resolves_to_a_function_with_a_quick_switch():
    for name in BENCHMARKS:
        fn = resolve(name)
        assert callable(fn) and "quick" in inspect.signature(fn).parameters, name


def test_eval_benchmarks_never_import_the_pipeline():
    for path in sorted(EVAL_BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n.split(".")[0] == "pipeline" for n in names), f"{path.name} imports {names}"


def test_run_writes_the_figures_of_each_named_benchmark(tmp_path):
    report = run_benchmarks(["config"], tmp_path / "bench.json", quick=True)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved == report and list(saved["benchmarks"]) == ["config"]
    assert saved["benchmarks"]["config"]["figures"]["profiles_per_s"] > 0


def test_bench_cli_lists_the_registry_and_refuses_unknown_names(capsys):
    assert main(["bench", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(BENCHMARKS)
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
