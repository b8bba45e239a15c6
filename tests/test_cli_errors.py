"""Every verb, given bad flags, settings, folders or files, ends in one line on stderr and exit code 2.

Each case is a real ``python -m sonovis.cli`` subprocess; all run once, two at a time, and each case
is then its own test. Most fail before any heavy work; the damaged folders are copies of the small
prepared corpus (hard links, with each damaged file replaced, never written through), and the
damaged checkpoints come from one real one-epoch model.

argparse's own errors (an unknown verb or flag, a missing or non-numeric argument) keep its usual
form: the usage lines, then one ``error:`` line, exit code 2. Everything sonovis checks itself
is exactly one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

VERBS = ("prepare", "train", "tune", "ablate", "evaluate", "translate", "report", "config", "demo")
SMALL_MODEL = ["--set", "model.rnn=none", "--set", "model.conv_channels=16", "--set", "model.embed_dim=32"]

# (id, argv, a substring the error line must hold). {data} {ckpt} {tmp} and {bad-*} are filled in below.
ONE_LINE = [
    ("config-unknown-section", ["config", "--set", "bogus.key=1"], "unknown section [bogus]; known sections: corpus"),
    ("config-unknown-key", ["config", "--set", "model.bogus=1"], "unknown key 'model.bogus'; known keys of [model]"),
    ("config-negative-lr", ["config", "--set", "train.lr=-1"], "train.lr = -1.0: expected a number in (0, inf)"),
    ("config-zero-embed-dim", ["config", "--set", "model.embed_dim=0"], "model.embed_dim = 0: expected a whole number"),
    ("config-pitch-reversed", ["config", "--set", "speech.pitch=[90, 10]"], "speech.pitch = [90, 10]: expected [low, high]"),
    ("config-no-equals", ["config", "--set", "train.lr"], "--set 'train.lr': expected section.key=value"),
    ("config-toml-missing", ["config", "--config", "{tmp}/missing.toml"], "missing.toml: config file not found"),
    ("config-toml-invalid", ["config", "--config", "{tmp}/invalid.toml"], "invalid.toml: not valid TOML"),
    ("config-toml-binary", ["config", "--config", "{tmp}/binary.toml"], "binary.toml: not a TOML file"),
    ("config-toml-directory", ["config", "--config", "{tmp}"], "cannot read the config file"),
    ("config-toml-unknown-section", ["config", "--config", "{tmp}/sections.toml"], "unknown section [trian]"),
    ("config-toml-out-of-range", ["config", "--config", "{tmp}/range.toml"], "augment.vtlp = 1.5: expected a number"),
    ("train-epochs-zero", ["train", "--data", "{data}", "--out", "{tmp}/o", "--epochs", "0"], "train.epochs = 0"),
    ("train-epochs-negative", ["train", "--data", "{data}", "--out", "{tmp}/o", "--epochs", "-1"], "train.epochs = -1"),
    ("train-lr-negative", ["train", "--data", "{data}", "--out", "{tmp}/o", "--set", "train.lr=-1"], "train.lr = -1.0"),
    ("train-unknown-section", ["train", "--data", "{data}", "--out", "{tmp}/o", "--set", "bogus.key=1"], "[bogus]"),
    ("train-unknown-rnn", ["train", "--data", "{data}", "--out", "{tmp}/o", "--set", "model.rnn=bogus"], "model.rnn"),
    ("train-data-missing", ["train", "--data", "{tmp}/nowhere", "--out", "{tmp}/o"], "nowhere/manifest.json: no manifest"),
    ("train-manifest-truncated", ["train", "--data", "{bad-manifest-truncated}", "--out", "{tmp}/o"],
     "manifest.json: unreadable manifest (truncated or not JSON); rerun `sonovis prepare`"),
    ("train-manifest-not-json", ["train", "--data", "{bad-manifest-not-json}", "--out", "{tmp}/o"],
     "manifest.json: unreadable manifest"),
    ("train-manifest-empty-object", ["train", "--data", "{bad-manifest-empty-object}", "--out", "{tmp}/o"],
     "manifest.json: damaged manifest (no config); rerun `sonovis prepare`"),
    ("train-manifest-no-shards", ["train", "--data", "{bad-manifest-no-shards}", "--out", "{tmp}/o"],
     "damaged manifest (no shards)"),
    ("train-manifest-path-escapes", ["train", "--data", "{bad-manifest-path-escapes}", "--out", "{tmp}/o"],
     "leaves the folder"),
    ("train-shard-missing", ["train", "--data", "{bad-shard-missing}", "--out", "{tmp}/o"],
     "utt-00000.parquet: shard missing; rerun `sonovis prepare`"),
    ("train-shard-truncated", ["train", "--data", "{bad-shard-truncated}", "--out", "{tmp}/o"],
     "utt-00000.parquet: shard corrupt (its checksum differs"),
    ("train-shard-checksum", ["train", "--data", "{bad-shard-checksum}", "--out", "{tmp}/o"],
     "img-00000.parquet: shard corrupt (its checksum differs"),
    ("tune-trials-zero", ["tune", "--data", "{data}", "--out", "{tmp}/o", "--trials", "0"], "search.trials = 0"),
    ("tune-reduction-one", ["tune", "--data", "{data}", "--out", "{tmp}/o", "--set", "search.reduction_factor=1"],
     "search.reduction_factor = 1: expected a whole number in [2, inf)"),
    ("tune-data-missing", ["tune", "--data", "{tmp}/nowhere", "--out", "{tmp}/o"], "no manifest"),
    ("tune-manifest-truncated", ["tune", "--data", "{bad-manifest-truncated}", "--out", "{tmp}/o"], "unreadable manifest"),
    ("ablate-seeds-zero", ["ablate", "--data", "{data}", "--out", "{tmp}/o", "--seeds", "0"], "ablate.seeds = 0"),
    ("ablate-epochs-zero", ["ablate", "--data", "{data}", "--out", "{tmp}/o", "--epochs", "0"],
     "max_epochs = 0: expected a whole number in [1, inf)"),  # the flag sets ablate.epochs and search.max_epochs
    ("ablate-data-missing", ["ablate", "--data", "{tmp}/nowhere", "--out", "{tmp}/o"], "no manifest"),
    ("ablate-manifest-empty", ["ablate", "--data", "{bad-manifest-empty-object}", "--out", "{tmp}/o", "--strategies"],
     "damaged manifest"),
    ("prepare-limit-negative", ["prepare", "--out", "{tmp}/p", "--limit", "-1"], "corpus.limit = -1"),
    ("prepare-voices-zero", ["prepare", "--out", "{tmp}/p", "--voices-per-caption", "0"], "speech.voices_per_caption = 0"),
    ("prepare-condition-unknown", ["prepare", "--out", "{tmp}/p", "--conditions", "room,attic"],
     "speech.conditions.kinds: unknown kind 'attic'; known kinds: voice_conversion, room"),
    ("prepare-conditions-over-voices", ["prepare", "--out", "{tmp}/p", "--conditions", "noise",
                                        "--conditions-per-caption", "2"], "speech.conditions.per_caption = 2"),
    ("prepare-eval-condition-unknown", ["prepare", "--out", "{tmp}/p", "--eval-condition", "attic"],
     "speech.eval_condition = 'attic': expected one of office, phone"),
    ("prepare-cpus-negative", ["prepare", "--out", "{tmp}/p", "--num-cpus", "-1"], "prepare.num_cpus = -1"),
    ("prepare-rate-low", ["prepare", "--out", "{tmp}/p", "--set", "features.sample_rate=100"], "features.sample_rate = 100"),
    ("prepare-tts-unknown", ["prepare", "--out", "{tmp}/p", "--tts", "bogus"], "unknown engine 'bogus'"),
    ("prepare-root-missing", ["prepare", "--out", "{tmp}/p", "--corpus", "flickr8k", "--root", "{tmp}/nowhere"],
     "nowhere: Flickr8k folder not found"),
    ("prepare-out-is-a-file", ["prepare", "--out", "{tmp}/binary.toml", "--limit", "1"], "binary.toml: File exists"),
    ("evaluate-checkpoint-text", ["evaluate", "{tmp}/text.pt", "--data", "{data}"],
     "text.pt: not a readable PyTorch checkpoint"),
    ("evaluate-checkpoint-truncated", ["evaluate", "{tmp}/truncated.pt", "--data", "{data}"],
     "truncated.pt: not a readable PyTorch checkpoint"),
    ("evaluate-checkpoint-none", ["evaluate", "{tmp}", "--data", "{data}"], "model.pt: no checkpoint here"),
    ("evaluate-split-unprepared", ["evaluate", "{ckpt}", "--data", "{data}", "--split", "test"],
     "split 'test' has no utterances"),
    ("evaluate-data-missing", ["evaluate", "{ckpt}", "--data", "{tmp}/nowhere"], "no manifest"),
    ("evaluate-shard-checksum", ["evaluate", "{ckpt}", "--data", "{bad-shard-checksum}"], "shard corrupt"),
    ("translate-checkpoint-text", ["translate", "{tmp}/text.pt", "--data", "{data}", "--say", "a red circle"],
     "text.pt: not a readable PyTorch checkpoint"),
    ("translate-k-zero", ["translate", "{ckpt}", "--data", "{data}", "--say", "a red circle", "-k", "0"],
     "k must be at least 1"),
    ("translate-data-missing", ["translate", "{ckpt}", "--data", "{tmp}/nowhere", "--say", "hi"], "no manifest"),
    ("translate-manifest-no-shards", ["translate", "{ckpt}", "--data", "{bad-manifest-no-shards}", "--say", "hi"],
     "damaged manifest"),
    ("report-runs-missing", ["report", "{tmp}/nowhere"], "nowhere: no such runs folder"),
    ("report-data-damaged", ["report", "{tmp}", "--data", "{bad-manifest-truncated}"], "unreadable manifest"),
    ("demo-trials-zero", ["demo", "--out", "{tmp}/d", "--trials", "0"], "search.trials = 0"),
    ("demo-trials-negative", ["demo", "--out", "{tmp}/d", "--trials", "-3"], "search.trials = -3"),
]

# argparse's usage errors: (id, argv)
USAGE = [
    ("no-verb", []),
    ("unknown-verb", ["bogus"]),
    ("unknown-flag", ["config", "--bogus"]),
    ("train-no-data", ["train", "--out", "{tmp}/o"]),
    ("train-epochs-not-a-number", ["train", "--data", "{data}", "--out", "{tmp}/o", "--epochs", "x"]),
    ("tune-trials-fraction", ["tune", "--data", "{data}", "--out", "{tmp}/o", "--trials", "1.5"]),
    ("ablate-no-out", ["ablate", "--data", "{data}"]),
    ("prepare-unknown-corpus", ["prepare", "--out", "{tmp}/p", "--corpus", "bogus"]),
    ("evaluate-no-checkpoint", ["evaluate", "--data", "{data}"]),
    ("translate-no-query", ["translate", "{ckpt}", "--data", "{data}"]),
    ("report-no-runs", ["report"]),
    ("demo-trials-not-a-number", ["demo", "--trials", "many"]),
]

# Some 80 interpreters, a few importing torch, on a machine others share: more than the default 900 s may pass.
pytestmark = pytest.mark.timeout(2400)

HELP = [(f"help-{verb}", [verb, "--help"]) for verb in VERBS] + [("help", ["--help"])]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sonovis.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})


def damaged_copy(prepared: Path, out: Path, relative: str, damage) -> Path:
    """A copy of ``prepared`` made of hard links, with ``relative`` replaced by ``damage(its bytes)`` (None: removed)."""
    shutil.copytree(prepared, out, copy_function=os.link)
    target = out / relative
    data = target.read_bytes()
    target.unlink()  # a new file: the shared one is never written through its link
    if (new := damage(data)) is not None:
        target.write_bytes(new)
    return out


def edit_manifest(edit):
    def damage(data: bytes) -> bytes:
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()
    return damage


def escape(manifest: dict) -> None:
    manifest["shards"]["utterances"][0]["path"] = "../../outside.parquet"


@pytest.fixture(scope="module")
def outcomes(prepared_builtin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("cli-errors")
    (tmp / "invalid.toml").write_text("[train]\nepochs = \n")
    (tmp / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp / "sections.toml").write_text("[trian]\nepochs = 3\n")
    (tmp / "range.toml").write_text("[augment]\nvtlp = 1.5\n")
    (tmp / "text.pt").write_text("this is not a checkpoint\n")
    ckpt_run = run(["train", "--data", str(prepared_builtin), "--out", str(tmp / "ckpt"), "--epochs", "1", *SMALL_MODEL],
                   tmp)
    assert ckpt_run.returncode == 0, ckpt_run.stderr[-2000:]
    real = (tmp / "ckpt" / "model.pt").read_bytes()
    (tmp / "truncated.pt").write_bytes(real[: len(real) // 2])
    half = lambda data: data[: len(data) // 2]  # noqa: E731
    damages = {
        "manifest-truncated": ("manifest.json", half),
        "manifest-not-json": ("manifest.json", lambda data: b"hello, not json"),
        "manifest-empty-object": ("manifest.json", lambda data: b"{}"),
        "manifest-no-shards": ("manifest.json", edit_manifest(lambda m: m.pop("shards"))),
        "manifest-path-escapes": ("manifest.json", edit_manifest(escape)),
        "shard-missing": ("utterances/utt-00000.parquet", lambda data: None),
        "shard-truncated": ("utterances/utt-00000.parquet", half),
        "shard-checksum": ("images/img-00000.parquet", lambda data: data[:-9] + bytes([data[-9] ^ 1]) + data[-8:]),
    }
    fill = {"data": str(prepared_builtin), "ckpt": str(tmp / "ckpt"), "tmp": str(tmp)}
    for name, (relative, damage) in damages.items():
        fill[f"bad-{name}"] = str(damaged_copy(prepared_builtin, tmp / f"bad-{name}", relative, damage))
    cases = {name: [a.format_map(fill) if "{" in a else a for a in argv] for name, argv, *_ in ONE_LINE + USAGE + HELP}
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(cases, pool.map(lambda argv: run(argv, tmp), cases.values())))
    return results


@pytest.mark.parametrize("name, argv, expected", ONE_LINE, ids=[c[0] for c in ONE_LINE])
def test_a_user_error_is_one_line_and_exit_code_2(outcomes, name, argv, expected):
    result = outcomes[name]
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"sonovis {argv[0]}: error: ") and expected in lines[0], lines[0]


@pytest.mark.parametrize("name, argv", USAGE, ids=[c[0] for c in USAGE])
def test_an_argparse_error_is_its_usage_then_one_error_line(outcomes, name, argv):
    result = outcomes[name]
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith("usage: sonovis"), result.stderr
    assert lines[-1].startswith("sonovis") and ": error: " in lines[-1], result.stderr
    assert sum(": error: " in line for line in lines) == 1, result.stderr


@pytest.mark.parametrize("name, argv", HELP, ids=[c[0] for c in HELP])
def test_help_works_for_every_verb(outcomes, name, argv):
    result = outcomes[name]
    assert result.returncode == 0 and result.stdout.startswith("usage: sonovis"), result.stderr[-3000:]
    assert result.stderr == ""
