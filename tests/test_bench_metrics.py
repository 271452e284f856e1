import numpy as np

from bench.common import baseline_is_white, baseline_mask, boundary_f, iou, kind_matches
from pipeline.synthetic import make_sample


def test_iou_and_boundary_f_on_known_shapes():
    gt = np.zeros((100, 100), bool)
    gt[20:80, 20:80] = True
    assert iou(gt, gt) == 1.0 and boundary_f(gt, gt) == 1.0
    shifted = np.roll(gt, 10, axis=1)
    assert abs(iou(shifted, gt) - 50 * 60 / (70 * 60)) < 1e-9
    assert boundary_f(shifted, gt) < 0.6  # 10 px off, beyond 0.75% of the diagonal
    assert boundary_f(np.roll(gt, 1, axis=1), gt) == 1.0  # within the tolerance


def test_baseline_reproduces_the_old_rule():
    white = make_sample("box", "white", 1, size=(320, 256)).image
    offwhite = make_sample("box", "offwhite", 1, size=(320, 256)).image
    assert baseline_is_white(white) and not baseline_is_white(offwhite)
    s = make_sample("bottle", "white", 2, size=(320, 256))
    assert iou(baseline_mask(s.image), s.mask > 127) > 0.5


def test_kind_matching_treats_plain_as_a_backdrop():
    assert kind_matches("scene", "scene") and kind_matches("plain", "plain")
    assert not kind_matches("plain", "scene") and not kind_matches("white", "plain")
    assert kind_matches("white", None) is None


def test_generated_set_is_reported_per_category_and_backdrop(tmp_path):
    from bench.common import load_cases
    from bench.quality import _group, bar_chart
    from pipeline.synthetic import hard_set, write_set

    write_set(tmp_path, hard_set(repeats=1, products=("tripod", "cage"), backdrops=("white", "pastel"),
                                 size=(160, 128)))
    cases = load_cases(tmp_path)
    assert {(c.category, c.backdrop, c.label) for c in cases} == {
        ("tripod", "white", "white"), ("tripod", "pastel", "plain"), ("cage", "white", "white"),
        ("cage", "pastel", "plain")}
    assert all(c.mask is not None for c in cases)
    rows = [{"name": c.name, "category": c.category, "backdrop": c.backdrop, "status": "ok", "iou": iou_, "kind_ok": True}
            for c, iou_ in zip(cases, (0.5, 0.7, 0.9, 1.0))]
    rows.append({"name": "x", "category": "cage", "backdrop": "white", "status": "failed"})
    by_cat = _group(rows, "category")
    assert set(by_cat) == {"tripod", "cage"} and by_cat["cage"]["n"] == 3 and by_cat["cage"]["ok"] == 2
    assert (by_cat["cage"]["iou"], by_cat["cage"]["iou_min"], by_cat["tripod"]["iou"]) == (0.6, 0.5, 0.95)
    assert _group(rows, "backdrop")["pastel"]["kind_accuracy"] == 1.0
    assert bar_chart(by_cat, "t").ndim == 3
