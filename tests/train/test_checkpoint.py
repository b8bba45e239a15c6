"""A checkpoint is data: loading one never runs code, and a damaged one is refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path, PosixPath

import pytest
import torch

from sonovis.config import ExperimentConfig, ModelConfig, TrainConfig
from sonovis.data.shards import load_prepared
from sonovis.errors import InputError
from sonovis.train.checkpoint import load_checkpoint, read_checkpoint
from sonovis.train.trainer import Trainer

TINY = ExperimentConfig(model=ModelConfig(hidden_size=32, conv_channels=32, conv_layers=1, embed_dim=32),
                        train=TrainConfig(epochs=1, batch_size=32))


class RunsCode:
    """What a crafted checkpoint carries: unpickling it would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def saved(prepared_builtin: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trainer]:
    trainer = Trainer(TINY, load_prepared(prepared_builtin))
    trainer.train_epoch()
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    trainer.save(path)
    return path, trainer


def test_a_checkpoint_built_to_run_code_is_refused_without_running_it(saved, prepared_builtin: Path,
                                                                       tmp_path: Path) -> None:
    path, _ = saved
    state = torch.load(path, weights_only=True)
    marker = tmp_path / "ran"
    evil = tmp_path / "model.pt"
    torch.save({**state, "vocab": RunsCode(marker)}, evil)
    with pytest.raises(InputError, match=r"refused, it holds objects such as \S+ .*could run code"):
        read_checkpoint(evil)
    assert not marker.exists()
    # the CLI says the same in one line, exit 2, and still runs nothing
    proc = subprocess.run([sys.executable, "-m", "sonovis.cli", "evaluate", str(evil), "--data", str(prepared_builtin)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_truncated_text_and_foreign_files_get_one_line_each(saved, tmp_path: Path) -> None:
    path, _ = saved
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint\n")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for bad, reason in [(truncated, "not a readable PyTorch checkpoint"), (text, "not a readable PyTorch checkpoint"),
                        (foreign, "not a sonovis checkpoint"), (tmp_path / "absent.pt", "no checkpoint here")]:
        with pytest.raises(InputError, match=reason) as err:
            read_checkpoint(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_a_checkpoint_from_before_the_redesign_still_loads(saved, prepared_builtin: Path, tmp_path: Path) -> None:
    """Older checkpoints kept the prepared folder as a PosixPath; that one harmless class is admitted."""
    path, trainer = saved
    old = tmp_path / "old.pt"
    torch.save({**torch.load(path, weights_only=True), "prepared": PosixPath(prepared_builtin)}, old)
    loaded = load_checkpoint(old, trainer.data)
    assert loaded.evaluate("dev") == trainer.evaluate("dev")
