"""The networks that ship: pinned bytes, they load in today's code, and each works by name with no other files."""
from __future__ import annotations

import hashlib

import pytest
import torch

from helpers_cli import run_cli
from texnet.io import bundled
from texnet.checkpoints import load

#: sha256 of every shipped weights file. A change here is a retrained network (update the card with it) or a
#: change of stored metadata, whose weights tests/test_bundled_portable.py holds bit-identical.
PINNED = {
    "bark": "4bed467540e96fc8c6620db62a2ac59de1d6a24d716d4d4989d31547005b7353",
    "brick": "143443384ef26b2d80e4a1fa85a57d55b5373e4167d9dd0ee5700ebbb955ae3a",
    "brick_gray": "021eba7b7b350a4560145f23dcc82e739d4cad9883244f74221b65310b0bcbaa",
    "burlap": "b871968034ac655ba45a1fabec37acb109fea092f6831a80dd58c75e307bb91f",
    "cafe_terrace": "12ec51ec94ce3771571fb0c941bc87c9b15e65c9cad53d57884e2ebc2689e9d1",
    "composition_viii": "30f7125cac69c0d703055f0c568ccd80e7a7f2d421db64b4517ac2dae8d54417",
    "great_wave": "22aced1f3a77207fa8f70bc7693e09a40c9f11a96691c8eaef687968c8881486",
    "painting_base": "4d089ba41bafb34bdfb7118a53b244fef51a238a0c4c9fa124e4ba57fb0b04be",
    "rock": "6041411a4d7b1507fd08559dc4b8feb5d6c13cbe7fa6546ca1d30dc0bc5d96fc",
    "scream": "3649c133fab13220d8b111fc4193b0cc03c4a756f0378a58f0fe0f43d06bc9f7",
    "starry_night": "b144e24b745a94c5c48aa13f518d2a2bd7c6c5009a8b53e6f2733fc6531c4c96",
    "stone": "f6a15d6b8e9455d6812e94e19b032f88949b3528a5cca14031acdf9b4ca40292",
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
    from texnet.io.images import load_image

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
