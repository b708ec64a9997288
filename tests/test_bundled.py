"""The networks that ship: pinned bytes, they load in today's code, and each works by name with no other files."""
from __future__ import annotations

import hashlib

import pytest
import torch

from helpers_cli import run_cli
from texnet import bundled
from texnet.checkpoints import load

#: sha256 of every shipped weights file. A change here is a retrained network: update the card with it.
PINNED = {
    "bark": "9e885a23ebfd8cfeca298a40f13125e96cb57dea4e6a3bb05eeb1b7567046add",
    "brick": "98a25b748035671504c9de95f5073c45c662488f1a50a07946414c85fb9724a2",
    "burlap": "4e95c7b720172e70203f4edbc10b864851dc2bdce7c321b39e35563c861925a2",
    "cafe_terrace": "fab7324ee253124e5318273e4832aa6d40c42f94ded96121530a02a36a6bd323",
    "composition_viii": "c2ca839d10ce6d13ab67f0ab1138b0e3f49bf2f05cfd773a5e02e52139290328",
    "great_wave": "2c9aed7da22cf30cd6f577be850746c724bf2c210dbe343a19362fc3ee22a2fe",
    "rock": "1b0db76b9d8d767cfed9a7d7a1777c693d453f170566d96414e5d03a1304bf5d",
    "scream": "12368b5e2a6e8843a6f57d7605153d57ff08045d564ebf3d8a152ce7fd25ef56",
    "starry_night": "3ca9b7047bc4a1c18727eac67c0b41519a66f389f3b936f61738e8d0418d48fa",
    "stone": "5c7685a1d2176d68c6e42e7e3bfff7e1e665d7e8893864e99909c50f6d7700b2",
}
STYLES = sorted(n for n in PINNED if bundled.MODELS_DIR.joinpath(f"{n}.json").is_file()
                and bundled.card(n)["kind"] == "style") if PINNED else []
TEXTURES = sorted(set(PINNED) - set(STYLES))


@pytest.fixture(autouse=True)
def _shipped_models(monkeypatch):
    monkeypatch.delenv("TEXNET_MODELS_DIR", raising=False)  # the package's own folder


def test_the_shipped_set_is_the_pinned_set_and_fits_the_wheel_budget():
    assert bundled.names() == sorted(PINNED)
    assert len(STYLES) >= 5 and len(TEXTURES) >= 5
    total = sum(p.stat().st_size for p in bundled.MODELS_DIR.iterdir())
    assert total <= 25 * 2**20, total


@pytest.mark.parametrize("name", sorted(PINNED))
def test_each_file_is_pinned_loads_and_has_a_complete_card(name):
    path = bundled.MODELS_DIR / f"{name}.pt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PINNED[name]
    stored = torch.load(path, weights_only=True)
    assert stored["weights_dtype"].startswith("float16")
    g = load(name)
    assert all(p.dtype == torch.float32 for p in g.parameters())
    card = bundled.card(name)
    assert set(bundled.CARD_KEYS) <= set(card)
    t = card["training"]
    assert t["command"][0] == "texnet" and t["steps"] > 0 and t["wall_time_s"] > 0 and t["final_loss"] > 0
    assert card["exemplar"]["licence"] and card["exemplar"]["provenance"]
    q = card["quality"]
    if card["kind"] == "style":
        assert card["declared"]["output_size"] >= 512 and card["declared"]["style_size"] > 0
        assert q["style_ratio"] > 0 and q["content_ratio"] > 0 and q["size"] == card["declared"]["output_size"]
    else:
        assert q["texture_loss"] > 0 and "layout" in q


@pytest.mark.parametrize("name", STYLES)
def test_every_bundled_stylenet_stylizes_by_name(name, tmp_path, capsys):
    rc, out, err = run_cli(["stylize", "--model", name, "sample:chelsea", "--size", "96", "--out", tmp_path / "s",
                            "--quiet"], capsys)
    assert rc == 0, err
    assert (tmp_path / "s" / "chelsea_stylized.png").is_file()


@pytest.mark.parametrize("name", TEXTURES)
def test_every_bundled_texture_network_samples_by_name(name, tmp_path, capsys):
    card = bundled.card(name)
    size = card["declared"].get("output_size", 96)
    rc, out, err = run_cli(["sample", "--model", name, "-n", "2", "--size", str(size), "--out", tmp_path / "t",
                            "--quiet"], capsys)
    assert rc == 0, err
    from texnet.images import load_image

    a, b = (load_image(tmp_path / "t" / f"sample_{i:03d}.png") for i in range(2))
    assert a.shape[-1] == size and float((a - b).abs().mean()) > 0.005  # new noise, a new sample


def test_demo_starts_with_the_bundled_networks(tmp_path, capsys):
    from texnet.apps.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--size", "64", "--steps", "3", "--out", str(out), "--quiet"]) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.index("Stylization by bundled networks") < page.index("Textures from bundled networks") \
        < page.index("<h2>Texture</h2>")
    assert "faster</b>" in page and "ms" in page
    assert len(list((out / "networks").glob("*.jpg"))) >= 6
