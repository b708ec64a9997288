"""Self-describing, safe checkpoints: round trips, weights_only loading, and every way a file can be wrong."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

import texnet
from texnet.checkpoints import (
    FORMAT,
    VERSION,
    file_digest,
    generator_from_checkpoint,
    load,
    load_checkpoint,
    save_checkpoint,
)
from texnet.config import LossConfig, TrainConfig, to_dict
from texnet.errors import CheckpointError, ConfigError, TexnetError
from texnet.paper.generators import StyleNet, TextureNetV1, TextureNetV2
from texnet.io.images import resolve_path


def _small(arch: str, norm: str = "instance"):
    torch.manual_seed(0)
    if arch == "TextureNetV1":
        return TextureNetV1(scales=3, norm=norm, size=16)
    if arch == "TextureNetV2":
        return TextureNetV2(size=16, z_dim=32, hidden=32, base_channels=64, norm=norm)
    return StyleNet(channels=8, residual_blocks=2, noise_channels=1, norm=norm)


def _outputs(g, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if g.task == "style":
            x0 = torch.rand(2, 3, 20, 24, generator=gen)
            z = g.sample_noise(2, (20, 24), gen)
            return g(x0, z)
        return g(g.sample_noise(2, 16, gen))


def _perturb(g):
    """Move every weight and buffer away from its initial value, so a round trip that drops one shows."""
    gen = torch.Generator().manual_seed(42)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
        for name, b in g.named_buffers():
            if b.dtype.is_floating_point:
                b.add_(0.1 * torch.rand(b.shape, generator=gen))
    return g


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("arch", ["TextureNetV1", "TextureNetV2", "StyleNet"])
@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_round_trip_gives_identical_outputs(tmp_path, arch, norm):
    g = _perturb(_small(arch, norm)).eval()
    expected = _outputs(g)
    path = save_checkpoint(tmp_path / "m.pt", g, step=7)
    assert path == tmp_path / "m.pt" and path.is_file()
    for loaded in (load(path), generator_from_checkpoint(load_checkpoint(path)).eval()):
        assert type(loaded) is type(g) and loaded.config == g.config
        assert torch.equal(_outputs(loaded), expected)
        for k, v in g.state_dict().items():  # batch-norm running statistics included
            assert torch.equal(loaded.state_dict()[k], v), k
    # control: a freshly built generator of the same architecture gives different outputs
    other = _small(arch, norm).eval()
    assert not torch.equal(_outputs(other), expected)


def test_load_returns_eval_mode_with_metadata(tmp_path):
    g = _small("TextureNetV1", "batch")
    assert g.training
    path = save_checkpoint(tmp_path / "model.pt", g, step=3, train_config={"lr": 0.5}, optimizer={"state": {}})
    loaded = load(path)
    assert not loaded.training and not any(m.training for m in loaded.modules())
    assert loaded.checkpoint["step"] == 3 and loaded.checkpoint["train_config"] == {"lr": 0.5}
    assert loaded.checkpoint["architecture"] == "TextureNetV1"
    assert "state_dict" not in loaded.checkpoint and "optimizer" not in loaded.checkpoint
    # a run folder works as the path too
    assert isinstance(load(tmp_path), TextureNetV1)
    assert texnet.load is load


def test_checkpoint_is_plain_data_for_weights_only_torch_load(tmp_path):
    g = _small("StyleNet")
    path = save_checkpoint(tmp_path / "m.pt", g, step=1, history=[{"step": 1, "loss": 0.5}])
    data = torch.load(path, weights_only=True)  # no texnet code involved
    assert data["format"] == FORMAT and data["version"] == VERSION
    assert data["texnet_version"] == texnet.__version__
    assert data["architecture"] == "StyleNet"
    assert data["arch_config"] == g.config
    assert set(data["state_dict"]) == set(g.state_dict())
    assert data["history"] == [{"step": 1, "loss": 0.5}]


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    g = _small("TextureNetV1")
    save_checkpoint(tmp_path / "m.pt", g)
    first = (tmp_path / "m.pt").read_bytes()
    save_checkpoint(tmp_path / "m.pt", _perturb(g))  # replaced
    assert (tmp_path / "m.pt").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_training_checkpoint_records_its_provenance(tmp_path):
    """A real (one-step) training run: checkpoint and model record architecture, configs, exemplar digest."""
    cfg = TrainConfig(exemplar="sample:brick", exemplar_size=32, generator="v1", v1_scales=2, size=16, batch_size=2,
                      steps=1, device="cpu", loss=LossConfig(texture_layers={"relu1_1": 1.0}))
    res = texnet.train(cfg, tmp_path / "run", show_progress=False, log=lambda msg: None)
    digest = hashlib.sha256(resolve_path("sample:brick").read_bytes()).hexdigest()
    assert file_digest(resolve_path("sample:brick")) == digest
    for name in ("checkpoint.pt", "model.pt"):
        data = torch.load(tmp_path / "run" / name, weights_only=True)
        assert data["architecture"] == "TextureNetV1"
        assert data["arch_config"] == {"scales": 2, "channels": 8, "noise_channels": 3, "norm": "instance",
                                       "padding": "circular", "size": 16}
        assert data["train_config"] == to_dict(cfg.resolved())
        assert data["train_config"]["loss"]["texture_layers"] == {"relu1_1": 1.0}
        assert data["exemplar_digest"] == digest
        assert data["step"] == 1
    full = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    slim = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert {"optimizer", "scheduler", "rng", "history"} <= set(full)
    assert not {"optimizer", "scheduler", "rng", "history"} & set(slim)
    assert torch.equal(_outputs(load(tmp_path / "run" / "model.pt")), _outputs(res.generator))


# --------------------------------------------------------------------------- unsafe files


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): harmless, but proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class _PlainObject:
    def __init__(self):
        self.value = 3


def _texnet_like(**extra):
    g = _small("TextureNetV1")
    return {"format": FORMAT, "version": VERSION, "architecture": g.arch, "arch_config": dict(g.config),
            "state_dict": g.state_dict(), **extra}


def test_code_in_a_checkpoint_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    torch.save(_texnet_like(note=_RunsCode(marker)), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "refused" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CheckpointError):
        load(path)
    assert not marker.exists()
    # control: the payload is live — an unsafe load would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_custom_class_instance_is_refused(tmp_path):
    path = tmp_path / "object.pt"
    torch.save(_texnet_like(extra=_PlainObject()), path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)


def test_whole_module_pickle_is_refused(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(_small("TextureNetV1"), path)  # the classic torch.save(model)
    with pytest.raises(CheckpointError, match="refused"):
        load(path)


# --------------------------------------------------------------------------- wrong or damaged files


def test_other_architecture_expectation(tmp_path):
    path = save_checkpoint(tmp_path / "texture.pt", _small("TextureNetV1"))
    data = load_checkpoint(path)
    with pytest.raises(CheckpointError) as info:
        generator_from_checkpoint(data, expect="StyleNet")
    assert "TextureNetV1" in str(info.value) and "StyleNet" in str(info.value)
    assert isinstance(generator_from_checkpoint(data, expect="TextureNetV1"), TextureNetV1)


def test_future_version_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "future.pt", _small("TextureNetV1"), version=999)
    assert torch.load(path, weights_only=True)["version"] == 999
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "999" in str(info.value) and "upgrade" in str(info.value)


@pytest.mark.parametrize("content", ["plain_dict", "tensor", "wrong_marker", "list"])
def test_non_texnet_torch_files_are_refused(tmp_path, content):
    obj = {"plain_dict": {"weight": torch.zeros(3)}, "tensor": torch.zeros(2, 2),
           "wrong_marker": {"format": "something-else", "version": 1}, "list": [1, 2, 3]}[content]
    path = tmp_path / "foreign.pt"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="not a texnet checkpoint"):
        load_checkpoint(path)


def test_missing_fields_are_refused(tmp_path):
    data = _texnet_like()
    del data["state_dict"]
    torch.save(data, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="state_dict"):
        load_checkpoint(tmp_path / "partial.pt")


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.5, 0.9, 0.999])
def test_truncated_file_is_refused(tmp_path, fraction):
    path = save_checkpoint(tmp_path / "full.pt", _small("TextureNetV2"))
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError) as info:
        load(cut)
    assert "cut.pt" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(bytes(range(256)) * 10, id="binary"),
    pytest.param(b"\0" * 100, id="zeros"),
    pytest.param(b'{"step": 1}\n', id="json"),
    pytest.param(b"hello, I am text\n", id="text"),
    pytest.param(b"step,loss\n1,0.5\n", id="csv"),
])
def test_garbage_files_are_refused(tmp_path, content):
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "garbage.pt" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["image", "binary"])
def test_files_that_are_not_checkpoints_are_not_called_unsafe(tmp_path, kind):
    """Only files with pickled code are 'refused'; an image or random bytes are just not checkpoints."""
    path = tmp_path / "photo.pt"
    path.write_bytes(resolve_path("sample:brick").read_bytes() if kind == "image" else bytes(range(256)) * 10)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "run code" not in str(info.value) and "photo.pt" in str(info.value)


def test_missing_path_and_folder_without_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="model.pt"):
        load_checkpoint(tmp_path)


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    data = _texnet_like()
    data["arch_config"]["channels"] = 16  # the weights were made with 8
    torch.save(data, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError) as info:
        load(tmp_path / "mismatch.pt")
    assert "do not fit" in str(info.value)
    data = _texnet_like()
    data["arch_config"]["scales"] = 4  # more modules than weights
    torch.save(data, tmp_path / "missing_keys.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load(tmp_path / "missing_keys.pt")


def test_unknown_architecture_or_options(tmp_path):
    data = _texnet_like(architecture="TextureNetV9")
    torch.save(data, tmp_path / "arch.pt")
    with pytest.raises(CheckpointError, match="TextureNetV9"):
        load(tmp_path / "arch.pt")
    data = _texnet_like()
    data["arch_config"]["wings"] = 2
    torch.save(data, tmp_path / "opt.pt")
    with pytest.raises(CheckpointError, match="wings"):
        load(tmp_path / "opt.pt")


def test_invalid_option_values_give_a_texnet_error(tmp_path):
    data = _texnet_like()
    data["arch_config"]["norm"] = "group"
    torch.save(data, tmp_path / "norm.pt")
    with pytest.raises(TexnetError):  # a one-line user error, not a traceback
        load(tmp_path / "norm.pt")
    assert issubclass(ConfigError, TexnetError)


# --------------------------------------------------------------------------- older formats

DATA = Path(__file__).parent / "data"


def test_format_1_checkpoints_load_with_renamed_keys_and_same_outputs():
    """Files written by texnet 0.1.0 before the exemplar rename (format 1, fixtures made by that code): they
    load, their keys are converted, and the generators give the outputs that code gave."""
    ref = torch.load(DATA / "format1_outputs.pt", weights_only=True)
    style = texnet.load(DATA / "stylenet_format1.pt")
    assert style.checkpoint["version"] == VERSION and style.checkpoint["exemplar_path"] == "sample:starry_night"
    assert "style_path" not in style.checkpoint
    with torch.no_grad():  # float32 ulps apart across CPUs (oneDNN picks kernels by ISA): same weights, same math
        out = style(ref["stylenet_input"], ref["stylenet_noise"])
        torch.testing.assert_close(out, ref["stylenet_output"], rtol=1e-5, atol=1e-5)
    tex = texnet.load(DATA / "texture_v1_format1.pt")
    saved = tex.checkpoint["train_config"]
    assert saved["exemplar"] == "sample:brick" and saved["exemplar_size"] == 32 and "texture" not in saved
    with torch.no_grad():  # one float32 ulp apart on some CPUs (oneDNN picks kernels by ISA): same weights, same math
        torch.testing.assert_close(tex(ref["texture_noise"]), ref["texture_output"], rtol=0, atol=1e-6)


def test_a_format_1_run_resumes_with_todays_code(tmp_path):
    """A training run checkpointed by the old code continues under the new names (config and digest match)."""
    from texnet.config import train_config_from_saved

    data = torch.load(DATA / "texture_v1_format1.pt", weights_only=True)
    cfg = dataclasses.replace(train_config_from_saved(data["train_config"]), steps=3)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(DATA / "texture_v1_format1.pt", run / "checkpoint.pt")
    res = texnet.train(cfg, run, resume=True, show_progress=False, log=lambda msg: None)
    assert [r["step"] for r in res.history] == [1, 2, 3]
    assert load_checkpoint(run / "checkpoint.pt")["version"] == VERSION
