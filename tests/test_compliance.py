"""Marketplace compliance: every rule passes and fails on generated photos, the bundled rules files cite their
sources, and a preset derived from the rules makes images that pass by construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
import pytest

from pipeline.compliance import (MarketplaceRules, border_width, check_image, load_rules, load_rules_file,
                                 marketplaces, preset_for)
from pipeline.errors import InvalidOption

from tests.listing_images import encode, listing_photo

SOURCE = {"url": "https://example.com/rules", "quote": "test rule", "confirmed": True}


def rules(**rules) -> MarketplaceRules:
    """A marketplace with only the given rules, all required unless a rule says otherwise."""
    body = {key: {"source": SOURCE, **value} for key, value in rules.items()}
    return MarketplaceRules.model_validate({"marketplace": "test", "title": "t", "image_role": "main",
                                            "documents": [], "rules": body})


def result(report, rule: str):
    return next(r for r in report.results if r.rule == rule)


@pytest.fixture(scope="module")
def clean_jpg() -> bytes:
    return encode(listing_photo())


# ------------------------------------------------------------------------------------------------------ background
WHITE = {"white": 255, "min_white_share": 0.99}


def test_background_pure_white_passes(clean_jpg):
    report = check_image(clean_jpg, rules(background=WHITE))
    assert report.passed, report.to_dict()
    assert result(report, "background").measured["border_white"] == 1.0


@pytest.mark.parametrize("grey", [(235, 235, 235), (252, 252, 252), (250, 245, 235)])
def test_background_off_white_fails(grey):
    report = check_image(encode(listing_photo(background=grey)), rules(background=WHITE))
    assert not report.passed and report.failed == ["background"]
    assert result(report, "background").measured["typical_off_white_rgb"] == pytest.approx(list(grey), abs=2)
    assert "pure white" in result(report, "background").fix


def test_background_shadow_only_where_allowed():
    shadowed = encode(listing_photo(shadow=True))
    assert check_image(shadowed, rules(background=WHITE | {"shadows_allowed": True})).passed
    strict = check_image(shadowed, rules(background=WHITE | {"shadows_allowed": False}))
    assert strict.failed == ["background"]


def test_background_grey_backdrop_is_not_a_shadow():
    report = check_image(encode(listing_photo(background=(225, 225, 225), shadow=True)),
                         rules(background=WHITE | {"shadows_allowed": True}))
    assert report.failed == ["background"]
    assert result(report, "background").measured["background_white"] == 0.0


def test_background_recommended_only_warns():
    report = check_image(encode(listing_photo(background=(240, 240, 240))),
                         rules(background=WHITE | {"level": "recommended"}))
    assert report.passed and result(report, "background").status == "warn"


# ------------------------------------------------------------------------------------------------------------ fill
@pytest.mark.parametrize("fill,passes", [(0.9, True), (0.86, True), (0.8, False), (0.3, False)])
def test_fill_minimum(fill, passes):
    report = check_image(encode(listing_photo(fill=fill)), rules(fill={"min": 0.85}))
    assert report.passed is passes
    assert result(report, "fill").measured["bbox_long"] == pytest.approx(fill, abs=0.01)


def test_fill_maximum():
    assert not check_image(encode(listing_photo(fill=0.97)), rules(fill={"min": 0.75, "max": 0.9})).passed
    assert check_image(encode(listing_photo(fill=0.85)), rules(fill={"min": 0.75, "max": 0.9})).passed


def test_fill_by_area():
    # The product is 0.6 as wide as tall: at 90% extent its own area is 0.9 * 0.54 = 49% of a square frame.
    photo = encode(listing_photo(fill=0.9))
    assert not check_image(photo, rules(fill={"measure": "area", "min": 0.6})).passed
    assert check_image(photo, rules(fill={"measure": "area", "min": 0.4})).passed


# ------------------------------------------------------------------------------------------------ sizes and shape
def test_pixel_size_limits():
    rule = rules(pixel_size={"min_long_side": 500, "min_short_side": 400, "max_long_side": 1800,
                             "max_megapixels": 2.0})
    assert check_image(encode(listing_photo((1200, 1000))), rule).passed
    assert check_image(encode(listing_photo((480, 480))), rule).failed == ["pixel_size"]
    assert check_image(encode(listing_photo((900, 360))), rule).failed == ["pixel_size"]  # short side
    assert check_image(encode(listing_photo((1900, 800))), rule).failed == ["pixel_size"]  # long side
    over = check_image(encode(listing_photo((1700, 1300))), rule)  # 2.2 MP
    assert over.failed == ["pixel_size"] and "megapixels" in result(over, "pixel_size").fix


def test_zoom_size():
    rule = rules(zoom_size={"long_side": 1000})
    assert check_image(encode(listing_photo((1000, 800))), rule).passed
    small = check_image(encode(listing_photo((600, 600))), rule)
    assert small.failed == ["zoom_size"] and result(small, "zoom_size").measured == "600x600"


def test_recommended_size_warns():
    report = check_image(encode(listing_photo((1200, 1200))),
                         rules(recommended_size={"short_side": 1500, "level": "recommended"}))
    assert report.passed and result(report, "recommended_size").status == "warn"


def test_aspect_ratio():
    rule = rules(aspect={"ratio": 4 / 3, "tolerance": 0.01})
    assert check_image(encode(listing_photo((1600, 1200))), rule).passed
    assert check_image(encode(listing_photo((1200, 1200))), rule).failed == ["aspect"]


# ------------------------------------------------------------------------------------------- the file itself
def test_format():
    photo = listing_photo((800, 800))
    rule = rules(format={"allowed": ["jpg", "png"]})
    assert check_image(encode(photo, "JPEG"), rule).passed
    assert check_image(encode(photo, "PNG"), rule).passed
    webp = check_image(encode(photo, "WEBP"), rule)
    assert webp.failed == ["format"] and result(webp, "format").measured == "webp"


def test_file_size(clean_jpg):
    assert check_image(clean_jpg, rules(file_size={"max_mb": 10})).passed
    report = check_image(clean_jpg, rules(file_size={"max_mb": len(clean_jpg) / 2e6}))
    assert report.failed == ["file_size"]


def test_color_profile():
    photo = listing_photo((800, 800))
    rule = rules(color_profile={"allowed": ["srgb", "untagged"]})
    assert result(check_image(encode(photo, profile="sRGB"), rule), "color_profile").measured == "srgb"
    assert check_image(encode(photo, profile=None), rule).passed
    other = check_image(encode(photo, profile="XYZ"), rule)
    assert other.failed == ["color_profile"] and "sRGB" in result(other, "color_profile").fix
    cmyk = encode(photo, "CMYK-JPEG")
    assert check_image(cmyk, rule).failed == ["color_profile"]
    assert check_image(cmyk, rules(color_profile={"allowed": ["srgb", "cmyk"]})).passed


# --------------------------------------------------------------------------------------- borders and overlays
@pytest.mark.parametrize("colour", [(20, 20, 20), (200, 30, 30), (235, 235, 235)])
def test_border_fails(colour):
    report = check_image(encode(listing_photo(border=24, border_colour=colour)), rules(border={}))
    assert report.failed == ["border"]
    assert abs(int(result(report, "border").measured.split()[0]) - 24) <= 2  # measured at the working size


def test_no_border_on_plain_backdrops():
    for background in ((255, 255, 255), (120, 160, 200)):
        assert check_image(encode(listing_photo(background=background)), rules(border={})).passed
    # A product cropped by the frame edge is not a border.
    assert border_width(listing_photo(fill=1.0)) == 0


@pytest.mark.parametrize("overlay,name", [("text", "detached mark"), ("swatch", "colour swatch"),
                                          ("badge", "inset circle")])
def test_overlays_fail(overlay, name):
    report = check_image(encode(listing_photo(**{overlay: True})), rules(overlays={}, fill={"min": 0.85}))
    assert report.failed == ["overlays"]
    assert name in result(report, "overlays").measured
    # The overlay is not part of the product: the fill is the product's own.
    assert result(report, "fill").measured["bbox_long"] == pytest.approx(0.9, abs=0.01)


def test_overlays_pass_on_a_clean_photo(clean_jpg):
    assert check_image(clean_jpg, rules(overlays={})).passed
    # A floor shadow, on white or on a coloured backdrop, is no drawn line.
    for background in ((255, 255, 255), (200, 215, 230)):
        assert check_image(encode(listing_photo(background=background, shadow=True)), rules(overlays={})).passed


# ------------------------------------------------------------------------------------------------- bad input
def test_unreadable_file_fails_every_rule_it_needs():
    report = check_image(b"not an image", load_rules("amazon"))
    assert not report.passed and report.error["code"] == "unsupported_format"
    assert {"background", "fill", "format"} <= set(report.failed)


def test_blank_image_has_no_product():
    blank = encode(np.full((1200, 1200, 3), 255, np.uint8))
    report = check_image(blank, rules(fill={"min": 0.85}, background=WHITE))
    assert report.failed == ["background", "fill"] or report.failed == ["fill", "background"]
    assert report.error["code"] == "product_not_found"


# ------------------------------------------------------------------------------------------------ rules files
@pytest.mark.parametrize("name", ["amazon", "ebay", "etsy", "shopify", "google"])
def test_bundled_rules_cite_sources(name):
    r = load_rules(name)
    assert r.marketplace == name and r.documents
    for key, rule in r.rules:
        if rule is not None:
            assert rule.source.url.startswith("http") and rule.source.quote
            if not rule.source.confirmed:  # an unconfirmed figure says what is known of it
                assert rule.source.note or "commonly" in rule.source.quote.lower() or rule.source.url


def test_marketplace_list_and_unknown_name():
    assert marketplaces() == ["amazon", "ebay", "etsy", "google", "shopify"]
    with pytest.raises(InvalidOption, match="amazon, ebay, etsy, google, shopify"):
        load_rules("walmart")


def test_user_rules_file(tmp_path, clean_jpg):
    data = json.loads(load_rules("amazon").model_dump_json())
    data["marketplace"] = "my-shop"
    data["rules"]["fill"]["min"] = 0.95
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    mine = load_rules_file(path)
    assert check_image(clean_jpg, mine).failed == ["fill"]
    path.write_text(json.dumps(data | {"rules": {"fill": {"min": 2}}}))
    with pytest.raises(InvalidOption, match="fill"):
        load_rules_file(path)
    path.write_text("{")
    with pytest.raises(InvalidOption, match="not valid JSON"):
        load_rules_file(path)


def test_amazon_done_when_cases(clean_jpg):
    amazon = load_rules("amazon")
    assert check_image(encode(listing_photo((2000, 2000), fill=0.89, shadow=True)), amazon).passed
    assert "background" in check_image(encode(listing_photo((2000, 2000), background=(200, 200, 200))), amazon).failed
    assert "fill" in check_image(encode(listing_photo((2000, 2000), fill=0.3)), amazon).failed
    assert "zoom_size" in check_image(encode(listing_photo((600, 600))), amazon).failed


# ------------------------------------------------------------------------------------------------------ presets
@pytest.mark.parametrize("name", ["amazon", "ebay", "etsy", "shopify", "google"])
def test_preset_within_the_rules(name):
    r = load_rules(name).rules
    p = preset_for(load_rules(name))
    if r.fill:
        assert (r.fill.min or 0) < p.fill < (r.fill.max or 1)
    if r.aspect:
        assert p.aspect == r.aspect.ratio
    long, short = p.size, round(p.size / max(p.aspect, 1 / p.aspect))
    for size_rule in (r.zoom_size, r.recommended_size):
        if size_rule:
            assert long >= (size_rule.long_side or 0) and short >= (size_rule.short_side or 0) - 1
    if r.pixel_size:
        assert long <= (r.pixel_size.max_long_side or long)
        assert long * short <= (r.pixel_size.max_megapixels or 1e9) * 1e6
    if r.format:
        assert p.format in r.format.allowed and set(p.formats) <= set(r.format.allowed)
    assert p.min_size <= p.size <= p.max_size
    assert p.white == (r.background is not None) and (p.style == "white") == p.white
    # A room photo is not silently kept where the main image must be on white.
    assert (p.on_scene == "skip") == (r.background is not None and r.background.level == "required")


def test_preset_of_a_user_file_follows_its_numbers():
    p = preset_for(rules(fill={"min": 0.6, "max": 0.7}, aspect={"ratio": 0.8}, zoom_size={"long_side": 1500},
                         format={"allowed": ["gif", "png"]}))
    assert (p.fill, p.aspect, p.size, p.format, p.white) == (0.64, 0.8, 1500, "png", False)
    with pytest.raises(InvalidOption):
        preset_for(rules(fill={"min": 0.88, "max": 0.9}))


# ------------------------------------------------------------------------------------------------ bgflow check
@pytest.fixture(scope="module")
def cli():
    import typer
    from typer.testing import CliRunner

    from events.check import check_cmd

    app = typer.Typer()
    app.command("check")(check_cmd)
    app.command("version")(lambda: None)  # two commands: typer keeps "check" as a subcommand
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["check", *map(str, args)])


@pytest.fixture(scope="module")
def photos(tmp_path_factory, clean_jpg):
    d = tmp_path_factory.mktemp("photos")
    (d / "good.jpg").write_bytes(encode(listing_photo((2000, 2000), fill=0.89)))
    (d / "grey.jpg").write_bytes(encode(listing_photo((2000, 2000), background=(200, 200, 200))))
    (d / "small.jpg").write_bytes(encode(listing_photo((600, 600))))
    (d / "far.jpg").write_bytes(encode(listing_photo((2000, 2000), fill=0.3)))
    return d


def test_cli_exit_codes_and_json(cli, photos, tmp_path):
    assert cli(photos / "good.jpg", "--marketplace", "amazon").exit_code == 0
    report = tmp_path / "r.json"
    res = cli(photos / "good.jpg", photos / "grey.jpg", photos / "small.jpg", photos / "far.jpg",
              "--marketplace", "amazon", "--json", report)
    assert res.exit_code == 1, res.output
    data = json.loads(report.read_text())
    failed = {Path(i["image"]).name: i["failed"] for i in data["images"]}
    assert failed["good.jpg"] == [] and "background" in failed["grey.jpg"]
    assert "zoom_size" in failed["small.jpg"] and "fill" in failed["far.jpg"]
    assert "FAIL" in res.output and "what to fix" in res.output


def test_cli_usage_errors(cli, photos, tmp_path):
    res = cli(photos / "good.jpg", "--marketplace", "walmart")
    assert res.exit_code == 2 and "amazon, ebay, etsy, google, shopify" in res.output
    assert cli(photos / "good.jpg").exit_code == 2  # no marketplace
    assert cli(tmp_path / "missing.jpg", "--marketplace", "amazon").exit_code == 2
    assert cli(photos / "good.jpg", "--marketplace", "amazon", "--fix").exit_code == 2  # --fix without --out
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert cli(photos / "good.jpg", "--rules", bad).exit_code == 2


def test_cli_user_rules(cli, photos, tmp_path):
    data = json.loads(load_rules("ebay").model_dump_json()) | {"marketplace": "tiny-shop"}
    data["rules"]["pixel_size"]["min_long_side"] = 700
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    assert cli(photos / "small.jpg", "--rules", path).exit_code == 1
    assert cli(photos / "good.jpg", "--rules", path).exit_code == 0


# ------------------------------------------------------------------------------------------------- POST /check
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from events.http import create_app
    from events.settings import Settings

    app = create_app(Settings(runs_dir=tmp_path_factory.mktemp("runs")))
    with TestClient(app) as c:
        yield c


def test_post_check_multipart_and_json(client, photos):
    import base64

    grey = (photos / "grey.jpg").read_bytes()
    res = client.post("/check", files={"file": ("grey.jpg", grey, "image/jpeg")}, data={"marketplace": "amazon"})
    assert res.status_code == 200 and res.json()["passed"] is False and "background" in res.json()["failed"]
    good = base64.b64encode((photos / "good.jpg").read_bytes()).decode()
    res = client.post("/check", json={"image_b64": f"data:image/jpeg;base64,{good}", "marketplace": "amazon"})
    assert res.status_code == 200 and res.json()["passed"] is True, res.json()
    assert {r["rule"] for r in res.json()["results"]} >= {"background", "fill", "zoom_size", "overlays"}


@pytest.mark.parametrize("body,status,code", [
    ({"image_b64": "aGVsbG8=", "marketplace": "walmart"}, 422, "invalid_option"),
    ({"image_b64": "not base64!", "marketplace": "amazon"}, 415, "unsupported_format"),
    ({"image_b64": "/etc/passwd", "marketplace": "amazon"}, 415, "unsupported_format"),
    ({"marketplace": "amazon"}, 422, "invalid_request"),
    ({"image_b64": "aGVsbG8=", "marketplace": "amazon", "extra": 1}, 422, "invalid_request"),
])
def test_post_check_bad_input(client, body, status, code):
    res = client.post("/check", json=body)
    assert res.status_code == status and res.json()["error"]["code"] == code, res.json()


def test_post_check_unreadable_input_is_a_coded_4xx(client):
    res = client.post("/check", files={"file": ("x.jpg", b"hello", "image/jpeg")}, data={"marketplace": "ebay"})
    assert res.status_code == 415 and res.json()["error"]["code"] == "unsupported_format"
    truncated = encode(listing_photo((800, 800)))[:5000]
    res = client.post("/check", files={"file": ("x.jpg", truncated, "image/jpeg")}, data={"marketplace": "ebay"})
    assert res.status_code == 422 and res.json()["error"]["code"] == "corrupt_image"
    assert client.post("/check", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    res = client.post("/check", files={"file": ("x.jpg", b"", "image/jpeg")}, data={"marketplace": "ebay"})
    assert res.status_code == 400 and res.json()["error"]["code"] == "empty_input"


def test_post_check_blank_image_is_a_failed_report(client):
    blank = encode(np.full((1200, 1200, 3), 255, np.uint8))
    res = client.post("/check", files={"file": ("b.jpg", blank, "image/jpeg")}, data={"marketplace": "amazon"})
    assert res.status_code == 200 and not res.json()["passed"] and "fill" in res.json()["failed"]


def test_too_many_pixels_fails_the_report():
    from pipeline.settings import get_settings

    settings = get_settings().model_copy(update={"max_pixels": 1_000_000})
    report = check_image(encode(listing_photo((1200, 1200))), load_rules("ebay"), settings=settings)
    assert not report.passed and report.error["code"] == "image_too_large"


# ------------------------------------------------------------------------------------ passes by construction
# Generated photos as hard as catalogue ones: thin legs, white on white, glossy, on white, off-white, colour and
# gradient backdrops. Each marketplace's preset must make images that pass that marketplace's check.
CONSTRUCTION = {
    "amazon": [("box", "offwhite"), ("chair", "plain"), ("white_cabinet", "white"), ("glossy_vase", "gradient")],
    "google": [("bottle", "plain"), ("frame", "offwhite")],
    "ebay": [("chair", "gradient")],
    "etsy": [("box", "plain")],
    "shopify": [("white_cabinet", "offwhite")],
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    from pipeline.contract import process
    from pipeline.options import RunOptions
    from pipeline.runner import InProcessExecutor, Job
    from pipeline.storage import LocalStorage
    from pipeline.synthetic import make_sample

    out = tmp_path_factory.mktemp("made")
    storage, executor = LocalStorage(out), InProcessExecutor()
    manifests = {}
    for marketplace, cases in CONSTRUCTION.items():
        for i, (product, backdrop) in enumerate(cases):
            sample = make_sample(product, backdrop, 10 + i, size=(900, 720))
            name = f"{marketplace}-{product}-{backdrop}"
            job = Job(source=encode(sample.image, "PNG", profile=None), name=name,
                      options=RunOptions(preset=marketplace))
            manifests[name] = (marketplace, out / name, process(job, storage, executor))
    return manifests


@pytest.mark.parametrize("name", [f"{m}-{p}-{b}" for m, cases in CONSTRUCTION.items() for p, b in cases])
def test_preset_output_passes_its_marketplace(made, name):
    marketplace, folder, manifest = made[name]
    assert manifest["status"] == "ok", manifest["error"]
    final = folder / manifest["variants"][0]["file"]
    report = check_image(final.read_bytes(), load_rules(marketplace))
    assert report.passed, {r.rule: r.measured for r in report.results if r.status == "fail"}
    assert not [r.rule for r in report.results if r.status == "warn"]  # the recommendations are met too
    # The manifest carries the same verdict.
    assert manifest["compliance"]["passed"] and manifest["compliance"]["marketplace"] == marketplace
    preset = preset_for(load_rules(marketplace))
    with Image.open(final) as im:
        assert max(im.size) == preset.size and im.format == {"jpg": "JPEG"}[preset.format]
    if preset.white:  # pure white exactly: the border of the final is 255 everywhere
        rgb = np.asarray(Image.open(final).convert("RGB"))
        assert rgb[:4].min() == 255 and rgb[:, :4].min() == 255 and rgb[:, -4:].min() == 255


def test_no_compliance_block_for_other_presets(tmp_path, product_png):
    from pipeline.contract import process
    from pipeline.options import RunOptions
    from pipeline.runner import InProcessExecutor, Job
    from pipeline.storage import LocalStorage

    manifest = process(Job(source=product_png, name="x", options=RunOptions(preset="marketplace", size=256)),
                       LocalStorage(tmp_path), InProcessExecutor())
    assert manifest["status"] == "ok" and manifest["compliance"] is None


def test_marketplace_preset_options():
    from pipeline.options import RunOptions
    from pipeline.settings import get_settings

    settings = get_settings()
    amazon = RunOptions(preset="amazon").resolved(settings)
    assert (amazon.size, amazon.format, amazon.on_scene) == (2000, "jpg", "skip")
    assert RunOptions(preset="amazon", on_scene="process").resolved(settings).on_scene == "process"
    assert RunOptions(preset="etsy").resolved(settings).on_scene == settings.on_scene  # scenes are fine on Etsy
    for bad in ({"size": 600}, {"format": "webp"}):
        with pytest.raises(InvalidOption, match="amazon"):
            RunOptions(preset="amazon", **bad).resolved(settings)
    with pytest.raises(InvalidOption, match="shopify"):
        RunOptions(preset="shopify", size=5000).resolved(settings)


def test_cli_fix(cli, photos, tmp_path):
    report = tmp_path / "fix.json"
    res = cli(photos / "good.jpg", photos / "grey.jpg", photos / "far.jpg", "--marketplace", "amazon", "--fix",
              "--out", tmp_path / "out", "--json", report)
    assert res.exit_code == 0, res.output
    data = json.loads(report.read_text())
    assert [Path(f["input"]).name for f in data["fixed"]] == ["grey.jpg", "far.jpg"]
    assert all(f["passed"] and Path(f["output"]).is_file() for f in data["fixed"])


def test_cli_fix_with_a_user_rules_file(cli, photos, tmp_path):
    data = json.loads(load_rules("amazon").model_dump_json()) | {"marketplace": "my-square-shop"}
    data["rules"]["fill"] |= {"min": 0.6, "max": 0.7}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    res = cli(photos / "good.jpg", "--rules", path, "--fix", "--out", tmp_path / "out", "--json", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    fixed = json.loads((tmp_path / "r.json").read_text())["fixed"]
    assert fixed[0]["passed"]
    assert 0.6 <= fixed[0]["report"]["results"][1]["measured"]["bbox_long"] <= 0.7


def test_check_of_a_bgflow_output_uses_the_run_mask(made):
    from events.check import run_mask_for

    marketplace, folder, manifest = made["amazon-white_cabinet-white"]
    final = folder / manifest["variants"][0]["file"]
    product = run_mask_for(final)
    assert product is not None and product.shape[::-1] == Image.open(final).size
    report = check_image(final.read_bytes(), load_rules(marketplace), product=product)
    assert report.passed and report.product_source == "run mask"
    # Exactly the preset's fill: the run's mask is where the product was placed.
    assert result(report, "fill").measured["bbox_long"] == pytest.approx(preset_for(load_rules(marketplace)).fill,
                                                                         abs=0.005)
    assert run_mask_for(Path(__file__)) is None
