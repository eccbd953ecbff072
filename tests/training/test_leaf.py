"""training is a leaf: it imports only the standard library and torch, never the packages that build on it."""
import ast
import sys
from pathlib import Path

import training

ALLOWED = {"torch"}


def test_training_imports_only_stdlib_and_torch():
    root = Path(training.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED or top in sys.stdlib_module_names or top == "__future__", f"{path.name}: {name}"
