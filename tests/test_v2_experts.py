"""TextureNetV2 with K whole networks routed by z (--v2-experts): routing, the training deal, gradients, files."""
from __future__ import annotations

import os

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")

import pytest
import torch

from texnet.checkpoints import load, save_checkpoint
from texnet.config import TrainConfig
from texnet.errors import ConfigError
from texnet.paper.generators import TextureNetV2, build_generator
from texnet.train import train
from helpers_train import quiet, texture_config, without

SMALL = dict(size=16, z_dim=4, hidden=8, base_channels=32)


def experts(k: int = 4, **kw) -> TextureNetV2:
    torch.manual_seed(0)
    return TextureNetV2(**SMALL, experts=k, **kw)


def test_one_expert_is_the_plain_network():
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, experts=1)
    assert "experts" not in g.config and not hasattr(g, "others")
    torch.manual_seed(0)
    assert list(g.state_dict()) == list(TextureNetV2(**SMALL).state_dict())


def test_each_sample_is_rendered_by_the_network_of_its_bin():
    g = experts(4).eval()
    z = g.sample_noise(12, generator=torch.Generator().manual_seed(1))
    # z[:, 0] below the normal's 1/4 quantile (-0.674) goes to network 0, above its 3/4 quantile to network 3
    z[:4, 0] = torch.tensor([-2.0, -0.7, 0.0, 1.0])
    pick = g.route(z)
    assert pick[:4].tolist() == [0, 0, 2, 3]
    with torch.no_grad():
        out = g(z)
        nets = [g, *g.others]
        for i in range(12):
            torch.testing.assert_close(out[i : i + 1], nets[int(pick[i])]._render(z[i : i + 1], []))
        # the networks start from their own weights: the same z gives four different images
        same = z[:1].repeat(4, 1)
        same[:, 0] = torch.tensor([-1.5, -0.3, 0.3, 1.5])
        images = g(same)
    assert min(float((images[a] - images[b]).abs().mean()) for a in range(4) for b in range(a)) > 1e-3


def test_training_noise_deals_every_network_its_share_and_stays_normal():
    g = experts(4).train()
    z = g.sample_noise(8, generator=torch.Generator().manual_seed(2))
    assert torch.bincount(g.route(z), minlength=4).tolist() == [2, 2, 2, 2]
    # the other coordinates are those of the plain draw; the first is still a standard normal over many draws
    plain = g.eval().sample_noise(8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(z[:, 1:], plain[:, 1:])
    g.train()
    many = torch.cat([g.sample_noise(8, generator=torch.Generator().manual_seed(s)) for s in range(500)])
    assert abs(float(many[:, 0].mean())) < 0.06 and abs(float(many[:, 0].std()) - 1) < 0.06
    # the same generator seed deals the same way (resumed runs see the same batches)
    again = g.sample_noise(8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(again, z)


def test_a_batch_smaller_than_the_networks_trains_every_network_over_the_steps():
    """Batch 4, 8 networks: each step deals to 4 different networks, and over steps every network gets rows
    (before, networks 4-7 never did and stayed untrained: pure noise in their samples)."""
    g = experts(8).train()
    seen = torch.zeros(8, dtype=torch.long)
    for step in range(40):
        picks = g.route(g.sample_noise(4, generator=torch.Generator().manual_seed(step)))
        assert len(set(picks.tolist())) == 4
        seen += torch.bincount(picks, minlength=8)
    assert bool((seen >= 10).all()), seen.tolist()  # 160 rows over 8 networks: about 20 each


def test_a_training_step_reaches_every_network_even_without_rows():
    g = experts(4).train()
    z = g.sample_noise(8, generator=torch.Generator().manual_seed(3))
    g(z).mean().backward()
    assert all(float(n.to_rgb.weight.grad.abs().sum()) > 0 for n in [g, *g.others])
    g.zero_grad(set_to_none=True)
    g(z[:2]).mean().backward()  # two rows, four networks: the idle two get a zero gradient, not None
    grads = [n.to_rgb.weight.grad for n in [g, *g.others]]
    assert all(gr is not None for gr in grads)
    assert sum(float(gr.abs().sum()) > 0 for gr in grads) == 2


def test_experts_round_trip_through_a_checkpoint_and_the_config(tmp_path):
    g = experts(3).eval()
    g2 = load(save_checkpoint(tmp_path / "model.pt", g, step=1))
    assert g2.config["experts"] == 3 and len(g2.others) == 2
    torch.testing.assert_close(g2.generate(6, seed=4), g.generate(6, seed=4))
    base = dict(task="texture", exemplar="sample:brick", generator="v2", size=16)
    assert "experts" not in TrainConfig(**base).resolved().generator_spec()[1]
    name, kwargs = TrainConfig(**base, v2_experts=3).resolved().generator_spec()
    assert kwargs["experts"] == 3 and len(build_generator(name, kwargs).others) == 2


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_a_bad_number_of_experts_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="experts must be a whole number"):
        TextureNetV2(**SMALL, experts=bad)


def test_training_with_experts_resumes_exactly_and_saves_them(tmp_path):
    """The deal is drawn from the step's generator: a resumed run sees the batches of the uninterrupted one."""
    cfg = dict(generator="v2", v2_experts=2, v2_width=32, z_dim=4, size=16, exemplar_size=32, batch_size=2, steps=4)
    full = train(texture_config(**cfg), tmp_path / "full", show_progress=False, log=quiet)
    train(texture_config(**{**cfg, "steps": 2}), tmp_path / "split", show_progress=False, log=quiet)
    resumed = train(texture_config(**cfg), tmp_path / "split", resume=True, show_progress=False, log=quiet)
    assert without(resumed.history, "seconds") == without(full.history, "seconds")
    g = load(tmp_path / "full" / "model.pt")
    assert g.config["experts"] == 2 and len(g.others) == 1


def test_experts_on_another_generator_are_refused():
    with pytest.raises(ConfigError, match="--v2-experts is a TextureNetV2 option"):
        texture_config(generator="v1", v2_experts=4).resolved().validate()


def test_diversity_auto_on_v2_brings_eight_networks_and_a_low_starting_kappa():
    from texnet.extras.auto_lambda import AUTO_KAPPA
    from texnet.config import EXPERTS_KAPPA, V2_EXPERTS

    auto = texture_config(generator="v2", diversity="auto").resolved()
    assert auto.v2_experts == V2_EXPERTS == 8 and auto.diversity_kappa == EXPERTS_KAPPA == AUTO_KAPPA / 16
    plain = texture_config(generator="v2", diversity=0.1).resolved()
    assert plain.v2_experts == 1 and plain.diversity_kappa == AUTO_KAPPA
    one = texture_config(generator="v2", diversity="auto", v2_experts=1).resolved()
    assert one.v2_experts == 1 and one.diversity_kappa == AUTO_KAPPA
    assert texture_config(generator="v1", diversity="auto").resolved().v2_experts == 1
    # a run saved before the option existed was one network with κ = AUTO_KAPPA
    from texnet.config import to_dict, train_config_from_saved

    saved = to_dict(one)
    del saved["v2_experts"], saved["diversity_kappa"]
    old = train_config_from_saved(saved).resolved()
    assert old.v2_experts == 1 and old.diversity_kappa == AUTO_KAPPA
