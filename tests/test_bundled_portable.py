"""The bundled networks carry no maintainer's path, keep their weights bit for bit, and their cards' commands
rebuild the configs that shipped; on a fresh install `evaluate` uses the shipped thumbnail or says what to pass."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from helpers_cli import run_cli
from texnet.apps.commands import train_config
from texnet.apps.parser import build_parser
from texnet.config import to_dict, train_config_from_saved
from texnet.config.train import GENERATOR_FIELDS
from texnet.io import bundled

#: Written before the stored paths were removed from the .pt files (issue 35): the weights must not have moved.
WEIGHTS = json.loads((Path(__file__).parent / "data" / "bundled_weights_sha256.json").read_text())


@pytest.fixture(autouse=True)
def _shipped_models(monkeypatch):
    monkeypatch.delenv("TEXNET_MODELS_DIR", raising=False)


def weights_digest(path) -> str:
    """sha256 over every stored tensor (state_dict and int8 scales: name, dtype, shape, bytes) and arch_config."""
    d = torch.load(path, weights_only=True)
    h = hashlib.sha256()
    for section in ("state_dict", "int8_scales"):
        for k in sorted(d.get(section) or {}):
            t = d[section][k].contiguous()
            h.update(f"{section}/{k}/{t.dtype}/{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(d.get("arch_config"), sort_keys=True).encode())
    return h.hexdigest()


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_the_set_of_networks_is_the_fixture_set():
    assert sorted(WEIGHTS) == bundled.names()


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_weights_are_bit_identical_to_those_that_shipped(name):
    assert weights_digest(bundled.MODELS_DIR / f"{name}.pt") == WEIGHTS[name]


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_no_maintainer_path_in_the_checkpoint_or_the_card(name):
    stored = torch.load(bundled.MODELS_DIR / f"{name}.pt", weights_only=True)
    meta = {k: v for k, v in stored.items() if k not in ("state_dict", "int8_scales")}
    card = json.loads((bundled.MODELS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    for text in list(_strings(meta)) + list(_strings(card)):
        assert not text.startswith(("/", "../", "~")) and "shared/data" not in text, f"{name}: {text}"
    exemplar = stored["train_config"]["exemplar"]  # several paintings: the multi-style base
    assert all(e.startswith("DATA/") for e in (exemplar if isinstance(exemplar, list) else [exemplar]))


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_the_card_command_rebuilds_the_shipped_config(name):
    card = bundled.card(name)
    argv = [a if a != "RUN" else "run" for a in card["training"]["command"][1:]]
    rebuilt_cfg = train_config(build_parser().parse_args(argv))
    stored = torch.load(bundled.MODELS_DIR / f"{name}.pt", weights_only=True)["train_config"]
    shipped_cfg = train_config_from_saved(stored)
    rebuilt, shipped = to_dict(rebuilt_cfg), to_dict(shipped_cfg)
    # options of other generators (TextureNetV2's --upsample default for a StyleNet) build nothing here
    same_network = rebuilt_cfg.generator_spec() == shipped_cfg.generator_spec()
    unread = set(GENERATOR_FIELDS) if same_network else set()
    differ = {k: (rebuilt[k], shipped[k]) for k in rebuilt if k not in unread and rebuilt[k] != shipped[k]}
    assert not differ, f"{name}: the card's command gives (rebuilt, shipped) {differ}"
    assert card["training"]["config"] == stored


def test_evaluate_a_bundled_texture_network_without_its_exemplar_on_a_fresh_install(tmp_path, capsys):
    """`texnet evaluate --model bark` works with nothing but the package: what needs no exemplar is measured,
    the card's numbers stand beside it, and the line says which flag gives the rest."""
    import json

    name = next(n for n in sorted(WEIGHTS) if bundled.card(n)["kind"] == "texture"
                and bundled.exemplar_thumbnail(n) is None)
    rc, out, err = run_cli(["evaluate", "--model", name, "-n", "2", "--out", tmp_path / "e", "--quiet"], capsys)
    assert rc == 0, err
    assert "--texture FILE" in out and "does not ship" in out
    res = json.loads((tmp_path / "e" / "results.json").read_text())
    assert res["exemplar"] is None and res["diversity"]["pixels_pairwise"] > 0 and res["seconds_per_sample"] > 0
    assert res["card_quality"] == bundled.card(name)["quality"]
    assert (tmp_path / "e" / "samples.png").is_file()


def test_evaluate_a_bundled_texture_network_with_an_exemplar(tmp_path, capsys):
    rc, out, err = run_cli(["evaluate", "--model", "brick", "--texture", "sample:brick", "-n", "2", "--size", "64",
                            "--out", tmp_path / "e", "--quiet"], capsys)
    assert rc == 0, err
    assert (tmp_path / "e" / "results.json").is_file()


def test_evaluate_a_bundled_stylenet_uses_its_shipped_exemplar(tmp_path, capsys):
    name = next(n for n in sorted(WEIGHTS) if bundled.card(n)["kind"] == "style"
                and bundled.exemplar_thumbnail(n) is not None)
    rc, out, err = run_cli(["evaluate", "--model", name, "--content", "sample:chelsea", "--size", "64",
                            "--out", tmp_path / "e", "--quiet"], capsys)
    assert rc == 0, err
    assert json.loads((tmp_path / "e" / "results.json").read_text())["exemplar"].endswith("_exemplar.jpg")
