"""`texnet reproduce`: the smoke profile end to end, and the verdict logic on hand-made results."""
from __future__ import annotations

import json

import pytest

from texnet.apps.cli import main
from texnet.apps.reproduce_report import claims


def test_smoke_profile_writes_report_results_and_figures(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "--profile", "smoke", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    res = json.loads((out / "results.json").read_text())
    for key in ("fig3a", "fig3b", "fig4", "fig5", "fig6", "fig7", "speed"):
        assert key in res, key
    assert set(res["fig3a"]["final_objective"]) == {"IN", "BN"}
    assert set(res["fig3b"]["first_loss"]) == {"noise", "IN", "BN"}
    assert len(res["fig7"]) == 3  # the smoke sweep has three λ
    for png in ("fig3a_objective.png", "fig3b_finetune.png", "fig4_grid.png", "fig5_textures.png",
                "fig6_diverse_stylization.png", "fig7_lambda_sweep.png", "fig7_samples_largest_lambda.png"):
        assert (out / png).stat().st_size > 1000, png
    page = (out / "index.html").read_text()
    assert "Claims and verdicts" in page and "supported" in page and "fig4_grid.png" in page
    assert "first-iteration loss IN" in page and " < BN" not in page and " &lt; BN" in page  # measured text escaped
    printed = capsys.readouterr().out
    assert printed.count("supported]") == len(claims(res))


def test_reproduce_refuses_missing_style_before_work(tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["reproduce", "--profile", "smoke", "--out", str(out), "--style", str(tmp_path / "nope.jpg")])
    assert rc == 1 and "no such file" in capsys.readouterr().err
    assert not out.exists()


def _results(in_bn=(1.0, 2.0), first=(1.0, 2.0, 3.0), v2=(0.05, 0.002, 0.06, 0.05)):
    tex0, div0, tex_l, div_l = v2
    fam = lambda tex, div: {"texture_loss": tex, "pixels_pairwise": div, "structure_pairwise": div,  # noqa: E731
                           "features_pairwise": div}
    return {
        "fig3a": {"final_objective": {"IN": in_bn[0], "BN": in_bn[1]}, "ratio_IN_over_BN": in_bn[0] / in_bn[1]},
        "fig3b": {"first_loss": {"IN": first[0], "BN": first[1], "noise": first[2]}},
        "fig5": {"V1": fam(0.2, 0.2), "V2 0": fam(tex0, div0), "V2 l": fam(tex_l, div_l)},
    }


def test_claims_supported_when_numbers_agree_with_the_paper():
    verdicts = {c.split(":")[0] + c.split(":")[1][:12]: ok for c, ok, _ in claims(_results())}
    assert all(verdicts.values()), verdicts


@pytest.mark.parametrize("kwargs,claim", [
    ({"in_bn": (2.0, 1.0)}, "Fig. 3a"),
    ({"first": (2.0, 1.0, 3.0)}, "Fig. 3b"),
    ({"v2": (0.05, 0.002, 0.09, 0.05)}, "Fig. 5: TextureNetV2 with λ > 0"),   # loss ratio 1.8 > 1.5
    ({"v2": (0.05, 0.002, 0.06, 0.004)}, "Fig. 5: TextureNetV2 with λ > 0"),  # diversity only 2x
])
def test_claims_not_supported_when_numbers_disagree(kwargs, claim):
    failing = [c for c, ok, _ in claims(_results(**kwargs)) if not ok]
    assert any(c.startswith(claim) for c in failing), failing


def _sweep(*rows):
    return {"fig7": {lam: {"texture_loss": tex, "pixels_pairwise": div} for lam, tex, div in rows}}


def test_sweep_claim_finds_a_lambda_meeting_both_targets():
    # λ=0.03 costs too much loss (1.6×), λ=0.01 is within both targets (10× diversity, 1.2× loss).
    res = _sweep(("0.0", 0.05, 0.002), ("0.01", 0.06, 0.02), ("0.03", 0.08, 0.09), ("0.3", 0.2, 0.3))
    (claim, ok, evidence), = [c for c in claims(res) if c[0].startswith("Fig. 7: some λ")]
    assert ok and "λ=0.01: 10.0× diversity, 1.20× loss ✓" in evidence and "λ=0.03: 45.0× diversity, 1.60× loss;" in evidence


def test_sweep_claim_not_supported_when_no_lambda_meets_both():
    res = _sweep(("0.0", 0.05, 0.002), ("0.01", 0.06, 0.004), ("0.3", 0.2, 0.3))  # 2× diversity, then 3× loss
    (claim, ok, evidence), = [c for c in claims(res) if c[0].startswith("Fig. 7: some λ")]
    assert not ok and "✓" not in evidence
