"""Every code block of README.md and docs/*.md a user would paste runs as written.

Blocks run in order, per document, in a fresh working directory: shell blocks
with bash, Python blocks in this process (Beam is imported once). A comment on
the line before a block says how (``<!-- doc-test: ... -->``):

- ``skip: <reason>``: not run (it needs AWS, Docker, GCP, the network...);
- ``file=<name>``: a JSON/YAML block, written to ``<name>`` for later blocks;
- ``emulator [config=<file>]``: a shell block run against an emulator this
  test started (with that resources file, from the working directory or the
  repository), ``http://127.0.0.1:4599`` replaced by its address;
- ``server``: a shell block that starts the emulator; run with ``--port 0``,
  until it serves, then stopped;
- ``requires=<command>``: skipped, saying so, where the command is not installed;
- ``expect-exit=<n>``: the exit status (default 0);
- ``expect-output=<text>``: text the output must hold.

Shell blocks of one document share what they export, as in one terminal.
Shell and Python blocks without a comment run as they are; a JSON or YAML
block without one fails the test (it is either a file or says why not).
Subprocesses reach only loopback addresses: the network is a dead loopback
proxy, so Beam's attempt to fetch Prism fails at once, as offline.
"""

from __future__ import annotations

import glob
import os
import re
import runpy
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from typing import Dict, Iterator, List, NamedTuple

import pytest

from beam_batchput.emulator import Emulator
from tests.conftest import stop_process_group

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCUMENTS = ["README.md"] + sorted(os.path.relpath(p, ROOT)
                                   for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
DOCUMENTED_ENDPOINT = "http://127.0.0.1:4599"
RUN_SECONDS = 120
SERVER_START_SECONDS = 30
_MARK = re.compile(r"^<!--\s*doc-test:\s*(.*?)\s*-->$")
_FENCE = re.compile(r"^```(\S*)\s*$")
RUNNABLE = {"sh": "sh", "bash": "sh", "shell": "sh", "python": "python"}
FILES = {"json", "yaml", "yml"}


class Block(NamedTuple):
    document: str
    line: int
    lang: str
    text: str
    marks: Dict[str, str]


def _marks(comment: str) -> Dict[str, str]:
    if comment.startswith("skip:"):
        return {"skip": comment[len("skip:"):].strip()}
    marks = {}
    for token in shlex.split(comment):
        key, _, value = token.partition("=")
        marks[key] = value
    return marks


def blocks(document: str) -> List[Block]:
    """The fenced blocks of a document, with the marks of the comment before each."""
    with open(os.path.join(ROOT, document), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    found, i, previous = [], 0, ""
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            start, i = i, i + 1
            body = []
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            mark = _MARK.match(previous.strip())
            found.append(Block(document, start + 1, fence.group(1).lower(), "\n".join(body) + "\n",
                               _marks(mark.group(1)) if mark else {}))
            previous = ""
        elif lines[i].strip():
            previous = lines[i]
        i += 1
    return found


CASES = [block for document in DOCUMENTS for block in blocks(document)]


def _id(block: Block) -> str:
    return "%s:%d" % (block.document, block.line)


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory) -> Dict[str, str]:
    return {document: str(tmp_path_factory.mktemp(re.sub(r"\W", "_", document)))
            for document in DOCUMENTS}


@pytest.fixture(scope="module")
def emulators() -> Iterator[Dict[str, Emulator]]:
    """Emulators by resources file ("" for none), started when first needed."""
    running: Dict[str, Emulator] = {}
    yield running
    for emulator in running.values():
        emulator.stop()


def _environment(home: str) -> Dict[str, str]:
    env = dict(os.environ)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    env.update({
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p),
        "HOME": home,  # no cached Prism binary, no user AWS config
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


def _emulator_for(block: Block, workdir: str, emulators: Dict[str, Emulator]) -> Emulator:
    config = block.marks.get("config", "")
    if config not in emulators:
        path = None
        if config:
            path = next((p for p in (os.path.join(workdir, config), os.path.join(ROOT, config))
                         if os.path.exists(p)), None)
            assert path, "%s names config %r, found neither in %s nor in the repository" % (
                _id(block), config, workdir)
        emulators[config] = Emulator(config=path).start()
    return emulators[config]


def _run_server(block: Block, workdir: str, env: Dict[str, str]) -> None:
    command = block.text.replace("--port 4599", "--port 0")
    assert command != block.text, "%s: a server block must use --port 4599" % _id(block)
    process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", command], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    first_line: List[str] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()),
                              daemon=True)
    reader.start()
    try:
        reader.join(SERVER_START_SECONDS)
        url = first_line[0].strip() if first_line else ""
        assert url.startswith("http://127.0.0.1:"), "%s printed no URL (stderr: %s)" % (
            _id(block), process.stderr.read() if process.poll() is not None else "running")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url + "/_emulator/store", timeout=10) as answer:
            assert answer.status == 200
    finally:
        if process.poll() is None:
            stop_process_group(process, 10, 10)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode in (0, -signal.SIGTERM), process.returncode


def _run_python(block: Block, text: str, workdir: str, env: Dict[str, str], monkeypatch,
                capsys) -> None:
    """Runs a Python block in this process (Beam imported once), in the block's
    working directory and environment, as its own ``__main__``-like module."""
    script = os.path.join(workdir, "block_%d.py" % block.line)
    with open(script, "w", encoding="utf-8") as out:
        out.write(text)
    monkeypatch.chdir(workdir)
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runpy.run_path(script, run_name="__doc_block__")
    if "expect-output" in block.marks:
        assert block.marks["expect-output"] in capsys.readouterr().out


@pytest.mark.parametrize("block", CASES, ids=_id)
def test_code_block_runs_as_written(block, workdirs, emulators, tmp_path, monkeypatch, capsys):
    marks = block.marks
    if "skip" in marks:
        assert marks["skip"], "%s: a skip needs a reason" % _id(block)
        pytest.skip(marks["skip"])
    workdir = workdirs[block.document]
    if block.lang in FILES:
        assert "file" in marks, ("%s: a %s block must be a file (file=<name>) or say why not "
                                 "(skip: <reason>)" % (_id(block), block.lang))
        with open(os.path.join(workdir, marks["file"]), "w", encoding="utf-8") as out:
            out.write(block.text)
        return
    kind = RUNNABLE.get(block.lang)
    if kind is None:
        pytest.skip("a %r block is output or prose, not something to paste" % block.lang)
    if marks.get("requires") and shutil.which(marks["requires"]) is None:
        pytest.skip("needs %r, which is not installed here" % marks["requires"])
    env = _environment(str(tmp_path))
    if "server" in marks:
        _run_server(block, workdir, env)
        return
    text = block.text
    if "emulator" in marks:
        text = text.replace(DOCUMENTED_ENDPOINT, _emulator_for(block, workdir, emulators)
                            .endpoint_url)
    if kind == "python":
        _run_python(block, text, workdir, env, monkeypatch, capsys)
        return
    # One terminal per document: what a block exports, later blocks see.
    state = os.path.join(workdir, ".doc-test-exports.sh")
    argv = ["bash", "-euo", "pipefail", "-c",
            '[ -f "$0" ] && source "$0"\n%s\nexport -p > "$0"\n' % text, state]
    run = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                         timeout=RUN_SECONDS)
    output = run.stdout + run.stderr
    assert run.returncode == int(marks.get("expect-exit", "0")), (
        "%s exited %d:\n%s" % (_id(block), run.returncode, output[-4000:]))
    if "expect-output" in marks:
        assert marks["expect-output"] in output, output[-4000:]
