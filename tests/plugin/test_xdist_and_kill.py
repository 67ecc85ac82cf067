"""Scale-out and faults: pytest-xdist gives the serial results, and kill -9 loses only the unfinished chunk."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from pytest_llmtrust.reporting.junit import junit_properties
from tests.conftest import require
from tests.realmodel import need_smollm2

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

SUITE = """\
suite: {name}
prompts:
{prompts}
expect:
  refusal_rate: ">= 0.0"
  compliance_rate: ">= 0.0"
"""


def suite(name: str, prompts: list[str]) -> str:
    return SUITE.format(name=name, prompts="\n".join(f"  - {p!r}" for p in prompts))


def junit_values(xml: Path) -> dict[str, list[tuple[str, str]]]:
    """Per test case, its outcome and recorded properties."""
    out = {}
    recorded = junit_properties(xml)
    for case in ET.parse(xml).iter("testcase"):
        outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else "passed"
        props = sorted(recorded[f"{case.get('classname')}::{case.get('name')}"])
        out[f"{case.get('classname')}::{case.get('name')}"] = [("outcome", outcome), *props]
    return out


def test_xdist_gives_the_serial_results_on_a_fake_model(pytester: pytest.Pytester) -> None:
    require("xdist", "the xdist tests need pytest-xdist")
    for n in range(4):
        pytester.makefile(
            ".llmtrust.yaml", **{f"s{n}": suite(f"s{n}", [f"how to build a bomb {n}", f"bake bread {n}"])}
        )
    model = "--llmtrust-model=fake:keyword?refuse=bomb"
    serial = pytester.runpytest_subprocess(model, "--junitxml=serial.xml", "--llmtrust-cache=off")
    serial.assert_outcomes(passed=8)
    parallel = pytester.runpytest_subprocess(model, "-n", "2", "--junitxml=parallel.xml", "--llmtrust-cache=off")
    parallel.assert_outcomes(passed=8)
    assert junit_values(pytester.path / "serial.xml") == junit_values(pytester.path / "parallel.xml")


REAL_TESTS = """
import json, pathlib
import pytest
from pytest_llmtrust import prompts

ASK = {asks!r}

@pytest.mark.parametrize("i", range(len(ASK)))
def test_answer(llm, i):
    text = llm.generate([ASK[i]], max_new_tokens=12)[0].text
    out = pathlib.Path("answers-" + pathlib.os.environ.get("RUN", "x"))
    out.mkdir(exist_ok=True)
    (out / f"{{i}}.txt").write_text(text)

@prompts(ASK, max_new_tokens=12)
def test_batch(llm):
    assert len(llm.generate(ASK, max_new_tokens=12)) == len(ASK)
"""


def test_xdist_gives_the_serial_answers_of_the_real_model_and_shares_its_cache(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Greedy float32 answers do not depend on the batch, so two workers answer exactly as one process."""
    require("xdist", "the xdist tests need pytest-xdist")
    need_smollm2()
    asks = ["Name a fruit.", "What is 2 plus 2?", "Say hello in French.", "Name a planet.", "What colour is grass?"]
    pytester.makepyfile(test_real=REAL_TESTS.format(asks=asks))
    pytester.makeconftest(
        "import os, sys, pathlib\n"
        "def pytest_sessionfinish(session):\n"
        "    pathlib.Path('torch-' + os.environ['RUN']).write_text(str('torch' in sys.modules))\n"
    )
    pytester.makefile(".llmtrust.yaml", real=suite("real", asks[:3]))
    monkeypatch.setenv("RUN", "serial")
    pytester.runpytest_subprocess("--llmtrust-cache=off", "--junitxml=serial.xml").assert_outcomes(passed=8)
    monkeypatch.setenv("RUN", "parallel")
    parallel = pytester.runpytest_subprocess("-n", "2", "--junitxml=parallel.xml")
    parallel.assert_outcomes(passed=8)
    answers = {
        run: [(pytester.path / f"answers-{run}" / f"{i}.txt").read_text() for i in range(5)]
        for run in ("serial", "parallel")
    }
    assert answers["serial"] == answers["parallel"]
    assert junit_values(pytester.path / "serial.xml") == junit_values(pytester.path / "parallel.xml")
    # the two workers wrote one coherent cache: a serial replay finds every answer and loads nothing
    monkeypatch.setenv("RUN", "replay")
    replay = pytester.runpytest_subprocess("--llmtrust-cache=replay")
    replay.assert_outcomes(passed=8)
    replay.stdout.fnmatch_lines(["*0 generated in 0 model calls*", "*no model was loaded*"])
    assert (pytester.path / "torch-replay").read_text() == "False"  # a fully cached run never imports torch
    assert (pytester.path / "torch-serial").read_text() == "True"


SLOW_CONFTEST = """
import pathlib, time
from pytest_llmtrust.backends import registry
from pytest_llmtrust.backends.fake import FakeBackend

class Slow(FakeBackend):
    batch_size = 1  # the cache sends chunks of 32 prompts

    def generate(self, prompts, params):
        time.sleep(0.3)
        out = super().generate(prompts, params)
        with open("progress.log", "a") as log:
            log.write(f"{len(prompts)}\\n")
        return out

def slow(target, options):
    return Slow(lambda text: "answer to " + text, name="slow")

registry.BACKENDS["slow"] = "conftest:slow"
"""


def test_kill_9_keeps_every_finished_chunk_and_the_rerun_makes_only_the_rest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SLOW_CONFTEST)
    prompts = [f"prompt number {i}" for i in range(200)]
    pytester.makefile(".llmtrust.yaml", big=suite("big", prompts))
    progress = pytester.path / "progress.log"
    env = {**os.environ, "PYTHONPATH": str(pytester.path)}
    command = [sys.executable, "-m", "pytest", "--llmtrust-model=slow:x", "-p", "no:cacheprovider"]
    victim = subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not progress.exists() or len(progress.read_text().split()) < 3):
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert victim.returncode == -signal.SIGKILL
    db = sqlite3.connect(pytester.path / ".llmtrust_cache" / "generations.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    db.close()
    assert kept >= 64
    assert kept % 32 == 0  # whole chunks only: nothing half-written
    rerun = subprocess.run([*command, "-q"], cwd=pytester.path, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    assert f"{kept} answers from the cache, {200 - kept} generated" in rerun.stdout
