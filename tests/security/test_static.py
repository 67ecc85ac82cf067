"""Static checks over every module of the package and the benchmarks: nothing that runs data as code.

An AST scan (not a text search, so comments, strings and ``model.eval()`` do not count) asserts:

- no call of the builtins ``eval``, ``exec``, ``compile`` or ``__import__`` (``re.compile`` and
  ``model.eval()`` are attribute calls on other objects and are fine; ``builtins.eval`` is not);
- no import of ``pickle``, ``_pickle``, ``cPickle``, ``marshal``, ``shelve``, ``dill``, ``cloudpickle``
  or ``joblib``, and no ``pandas.read_pickle`` / ``numpy.load(..., allow_pickle=True)``;
- YAML only through safe loading: no ``yaml.load``/``load_all`` without a safe loader, no
  ``yaml.unsafe_load``/``full_load``, no ``yaml.Loader``/``UnsafeLoader``/``FullLoader`` at all;
- no ``torch.load`` unless it passes ``weights_only=True``;
- no ``shell=True`` (``subprocess.*`` or anything else), no ``os.system``/``os.popen``/``os.exec*``.

Imports are followed, so ``from yaml import load as l; l(s)`` and ``import subprocess as sp`` are caught.
The scanner itself is tested on small snippets that each break one rule (and on ones that do not).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("pytest_llmtrust", "benchmarks")

BANNED_BUILTINS = frozenset({"eval", "exec", "compile", "__import__"})
BANNED_MODULES = frozenset({"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"})
SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})
UNSAFE_YAML_NAMES = frozenset({"yaml.Loader", "yaml.UnsafeLoader", "yaml.FullLoader", "yaml.CLoader",
                               "yaml.CUnsafeLoader", "yaml.CFullLoader", "yaml.unsafe_load", "yaml.unsafe_load_all",
                               "yaml.full_load", "yaml.full_load_all"})  # fmt: skip
SHELL_CALLS = frozenset({"os.system", "os.popen", "os.execl", "os.execlp", "os.execv", "os.execvp", "os.execve",
                         "os.spawnl", "os.spawnv", "os.startfile", "pandas.read_pickle"})  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One rule broken at one place."""

    where: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.rule}"


class _Scanner(ast.NodeVisitor):
    def __init__(self, where: str) -> None:
        self.where = where
        self.aliases: dict[str, str] = {}  # local name -> dotted name it was imported as
        self.findings: list[Finding] = []

    def flag(self, node: ast.AST, rule: str) -> None:
        self.findings.append(Finding(self.where, getattr(node, "lineno", 0), rule))

    # -- imports --------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in BANNED_MODULES:
                self.flag(node, f"imports {alias.name}")
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] in BANNED_MODULES:
            self.flag(node, f"imports from {module}")
        for alias in node.names:
            qualified = f"{module}.{alias.name}" if module else alias.name
            self.aliases[alias.asname or alias.name] = qualified
            if qualified in UNSAFE_YAML_NAMES:
                self.flag(node, f"imports {qualified}")
        self.generic_visit(node)

    # -- names ----------------------------------------------------------------------------------

    def qualified(self, node: ast.AST) -> str | None:
        """``yaml.load`` for ``yaml.load``/``y.load``/``load`` (after ``from yaml import load``); None if unknown."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.qualified(node)
        if name in UNSAFE_YAML_NAMES:
            self.flag(node, f"uses {name}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        name = self.aliases.get(node.id)
        if name in UNSAFE_YAML_NAMES:
            self.flag(node, f"uses {name}")

    # -- calls ----------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = self.qualified(func)
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if isinstance(func, ast.Name) and func.id in BANNED_BUILTINS and func.id not in self.aliases:
            self.flag(node, f"calls builtin {func.id}()")
        if name in {f"builtins.{b}" for b in BANNED_BUILTINS}:
            self.flag(node, f"calls {name}()")
        if name in ("yaml.load", "yaml.load_all"):
            loader = keywords.get("Loader", node.args[1] if len(node.args) > 1 else None)
            loader_name = None if loader is None else self.qualified(loader)
            if loader_name is None or loader_name.rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
                self.flag(node, f"calls {name}() without a safe Loader")
        if name == "torch.load" and not _is_true(keywords.get("weights_only")):
            self.flag(node, "calls torch.load() without weights_only=True")
        if name in ("numpy.load", "np.load") and _is_true(keywords.get("allow_pickle")):
            self.flag(node, "calls numpy.load(allow_pickle=True)")
        if "shell" in keywords and not _is_false(keywords["shell"]):
            self.flag(node, f"calls {name or 'something'}() with shell=True (or a non-constant shell)")
        if name in SHELL_CALLS:
            self.flag(node, f"calls {name}()")
        self.generic_visit(node)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _is_false(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def scan_source(source: str, where: str = "<snippet>") -> list[Finding]:
    """Every rule broken in ``source``."""
    scanner = _Scanner(where)
    scanner.visit(ast.parse(source, filename=where))
    return scanner.findings


def modules() -> list[Path]:
    found = sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)
    assert len(found) > 100, "the scan found too few modules; is ROOT right?"
    return found


def test_no_module_runs_data_as_code() -> None:
    findings = [
        finding
        for path in modules()
        for finding in scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not findings, "unsafe constructs:\n" + "\n".join(map(str, findings))


def test_the_scan_covers_the_package_and_the_benchmarks() -> None:
    names = {str(p.relative_to(ROOT)) for p in modules()}
    for expected in (
        "pytest_llmtrust/suite/yamlsafe.py",
        "pytest_llmtrust/steering/artefact.py",
        "pytest_llmtrust/cache/store.py",
        "pytest_llmtrust/backends/hf.py",  # calls model.eval(), which must not count
        "benchmarks/judge_agreement.py",
    ):
        assert expected in names


# --- the scanner catches what it should, and only that ----------------------------------------------


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("eval(text)", "calls builtin eval()"),
        ("exec(code)", "calls builtin exec()"),
        ("compile(src, 'f', 'exec')", "calls builtin compile()"),
        ("__import__(name)", "calls builtin __import__()"),
        ("import builtins\nbuiltins.eval(x)", "calls builtins.eval()"),
        ("import pickle", "imports pickle"),
        ("import pickle as p", "imports pickle"),
        ("from pickle import loads", "imports from pickle"),
        ("import _pickle", "imports _pickle"),
        ("import marshal", "imports marshal"),
        ("import shelve", "imports shelve"),
        ("import dill", "imports dill"),
        ("import cloudpickle", "imports cloudpickle"),
        ("import yaml\nyaml.load(s)", "calls yaml.load() without a safe Loader"),
        ("import yaml\nyaml.load(s, Loader=yaml.Loader)", "calls yaml.load() without a safe Loader"),
        ("import yaml\nyaml.load(s, yaml.FullLoader)", "calls yaml.load() without a safe Loader"),
        ("import yaml as y\ny.load_all(s)", "calls yaml.load_all() without a safe Loader"),
        ("from yaml import load\nload(s)", "calls yaml.load() without a safe Loader"),
        ("import yaml\nyaml.unsafe_load(s)", "uses yaml.unsafe_load"),
        ("import yaml\nyaml.full_load(s)", "uses yaml.full_load"),
        ("import yaml\nclass L(yaml.UnsafeLoader): pass", "uses yaml.UnsafeLoader"),
        ("from yaml import Loader", "imports yaml.Loader"),
        ("import torch\ntorch.load(p)", "calls torch.load() without weights_only=True"),
        ("import torch\ntorch.load(p, weights_only=False)", "calls torch.load() without weights_only=True"),
        ("from torch import load\nload(p)", "calls torch.load() without weights_only=True"),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", "calls numpy.load(allow_pickle=True)"),
        ("import subprocess\nsubprocess.run(cmd, shell=True)", "calls subprocess.run() with shell=True"),
        ("import subprocess as sp\nsp.Popen(cmd, shell=flag)", "calls subprocess.Popen() with shell=True"),
        ("from subprocess import check_output\ncheck_output(c, shell=True)", "calls subprocess.check_output()"),
        ("import os\nos.system(cmd)", "calls os.system()"),
        ("import os\nos.popen(cmd)", "calls os.popen()"),
        ("import pandas\npandas.read_pickle(p)", "calls pandas.read_pickle()"),
    ],
)
def test_the_scanner_flags(source: str, rule: str) -> None:
    findings = scan_source(source)
    assert any(rule in f.rule for f in findings), findings


@pytest.mark.parametrize(
    "source",
    [
        "model.eval()",
        "self.model.eval()\nnet = Model().eval()",
        "import re\nre.compile('x')",
        "import regex\npattern = regex.compile('x')",
        "import yaml\nyaml.safe_load(s)",
        "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)",
        "import yaml\nyaml.load(s, yaml.CSafeLoader)",
        "import yaml\nclass L(yaml.SafeLoader): pass",
        "import torch\ntorch.load(p, weights_only=True)",
        "import subprocess\nsubprocess.run(['ls'], shell=False)\nsubprocess.Popen(['ls'])",
        "# eval(x) in a comment\ns = 'eval(x) and import pickle in a string'",
        "def compile_rules(r): ...\ncompile_rules(1)",
        "import json\njson.loads(s)",
        "from safetensors.torch import load_file\nload_file(p)",
    ],
)
def test_the_scanner_passes(source: str) -> None:
    assert scan_source(source) == []
