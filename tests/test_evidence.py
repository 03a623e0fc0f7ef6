"""The evidence sources on real pictures: OCR (the real PP-OCR models), kind, metadata, colours,
and the alt text composed from them without a model."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import struct

import pytest
from PIL import Image

from alttext.pipeline.images import load_image, load_image_file
from alttext.model import Context, Settings
from alttext.pipeline.describe import describe
from alttext.pipeline.evidence import Evidence, compose, gather, tie_colours, visible_items
from alttext.pipeline.evidence import colours as colour_names
from alttext.pipeline.evidence.kind import Features, Kind, classify, measure
from alttext.pipeline.evidence.metadata import authored, clean
from alttext.pipeline.evidence.ocr import TextLine, place, reading_order
from tests.conftest import FIXTURES, require

DRAWN = os.path.join(FIXTURES, "evidence")
PHOTO = os.path.join(FIXTURES, "site", "img", "meadow.jpg")
NONE = dataclasses.replace(Settings(), captioner="none", backend="none", cache=False)


def _drawn(name: str) -> str:
    return os.path.join(DRAWN, "images", name)


def _labels() -> list[dict[str, object]]:
    with open(os.path.join(DRAWN, "dataset.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def reader():  # type: ignore[no-untyped-def]
    require("rapidocr_onnxruntime")
    from alttext.pipeline.evidence.ocr import Reader

    return Reader()


def _read(reader, name: str) -> list[TextLine]:  # type: ignore[no-untyped-def]
    return reader.read(load_image_file(_drawn(name)).image)


# Visible text ---------------------------------------------------------------------------------


def test_ocr_reads_each_line_with_its_box_in_reading_order(reader) -> None:  # type: ignore[no-untyped-def]
    lines = _read(reader, "login.png")
    texts = [t.text for t in lines]
    for expected in ("Acme Cloud", "Sign in to your account", "Email", "Password", "Remember me", "Sign in", "Forgot password?"):
        assert expected in texts
    assert texts.index("Acme Cloud") < texts.index("Email") < texts.index("Sign in") < texts.index("Forgot password?")
    for line in lines:
        left, top, right, bottom = line.box
        assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1 and line.score >= 0.6
    title = next(t for t in lines if t.text == "Acme Cloud")
    assert place(title.box) == "top"


def test_ocr_puts_back_the_spaces_the_recogniser_drops(reader) -> None:  # type: ignore[no-untyped-def]
    # PP-OCR's recogniser reads "Monthlyactiveusers"; the gaps in the pixels say where the words end.
    assert "Monthly active users" in [t.text for t in _read(reader, "active-users.png")]
    assert "This action cannot be undone." in [t.text for t in _read(reader, "delete-dialog.png")]


def test_ocr_reads_chinese(reader) -> None:  # type: ignore[no-untyped-def]
    texts = [t.text for t in _read(reader, "zh-login.png")]
    assert {"欢迎回来", "用户名", "密码", "记住我"} <= set(texts)


def test_a_picture_without_text_never_reaches_recognition(reader) -> None:  # type: ignore[no-untyped-def]
    reader.load()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("recognition ran on a picture without text")

    engine = reader._engine
    real, engine.text_rec = engine.text_rec, fail
    try:
        # Detection finds no text in them, so recognition never runs (OCR costs a fraction of a second).
        assert reader.read(load_image_file(PHOTO).image) == []
        assert reader.read(Image.new("RGB", (300, 200), (40, 120, 200))) == []
    finally:
        engine.text_rec = real


def test_an_ocr_engine_that_cannot_be_imported_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from alttext.cli import main
    from alttext.pipeline import describe as pipeline
    from alttext.pipeline.evidence import ocr

    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import fails
    monkeypatch.setattr(pipeline, "_LOADED", {})
    ocr.available.cache_clear()
    try:
        assert main(["describe", _drawn("login.png"), "--ocr", "on", "--backend", "none", "--captioner", "none", "--no-cache"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == ("alttext: error: reading text in images needs the ocr extra (rapidocr_onnxruntime is not installed): "
                                     "pip install 'alttext[ocr]', or set ocr = \"off\"\n")
        # With ocr = "auto" (the default) a missing engine is a note, and the rest of the evidence still counts.
        assert main(["describe", _drawn("quote.png"), "--backend", "none", "--captioner", "none", "--no-cache"]) == 1
        assert capsys.readouterr().err.startswith("alttext: note: text in images is not read")
    finally:
        ocr.available.cache_clear()


def test_reading_order_is_rows_top_to_bottom_then_left_to_right() -> None:
    right = TextLine("right", (0.6, 0.1, 0.8, 0.15), 1.0)
    left = TextLine("left", (0.1, 0.11, 0.3, 0.16), 1.0)
    below = TextLine("below", (0.1, 0.5, 0.3, 0.55), 1.0)
    assert [t.text for t in reading_order([below, right, left])] == ["left", "right", "below"]
    assert [place(b) for b in ((0, 0, 0.1, 0.1), (0.45, 0.45, 0.55, 0.55), (0.9, 0.9, 1, 1), (0.4, 0.9, 0.6, 1))] == [
        "top left", "centre", "bottom right", "bottom"]


# Kind -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("item", [pytest.param(i, id=str(i["id"])) for i in _labels()])
def test_kind_of_each_drawn_picture(item: dict[str, object], reader) -> None:  # type: ignore[no-untyped-def]
    loaded = load_image_file(os.path.join(DRAWN, str(item["image"])))
    context = item.get("context") or {}
    [d] = describe([loaded.name], [Context(file_name=os.path.basename(loaded.name), **context)], NONE, reader=reader)  # type: ignore[arg-type]
    assert d.kind == item["kind"]


def test_kind_from_the_pixels_alone() -> None:
    noise = Image.effect_noise((320, 240), 60).convert("RGB")
    photo = load_image(_png(Image.merge("RGB", (noise.getchannel(0), noise.getchannel(0).rotate(90, expand=False), noise.getchannel(0)))), "p.png")
    cases = [
        (photo, "photo"),
        (load_image(_png(Image.new("RGB", (600, 3), (200, 200, 200))), "rule.png"), "decorative"),
        (load_image(_png(Image.new("RGBA", (1, 1), (0, 0, 0, 0))), "spacer.png"), "decorative"),
        (load_image(_png(Image.new("RGB", (300, 200), (30, 90, 200))), "flat.png"), "decorative"),
    ]
    for loaded, kind in cases:
        features = measure(loaded.image, loaded.width, loaded.height, loaded.alpha, [])
        assert classify(features).name == kind, loaded.name


def test_the_only_content_of_a_link_is_never_decorative() -> None:
    tiny = Features(width=16, height=16, alpha=True, flat=1.0, colours=2, text_cover=0, text_ink=0, lines=0, numbers=0, swatches=0, boxed=0, words=0)
    assert classify(tiny).name == "decorative"
    assert classify(tiny, functional=True) == Kind("logo", "a small or transparent flat image without text")


def _png(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


# Metadata ----------------------------------------------------------------------------------------


def _jpeg(**options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 140, 200)).save(out, "JPEG", **options)
    return out.getvalue()


def _with_iptc(jpeg: bytes, fields: dict[int, str]) -> bytes:
    """A JPEG with an APP13 Photoshop block holding IPTC records 2:dataset."""
    records = b"".join(b"\x1c\x02" + bytes([k]) + struct.pack(">H", len(v.encode())) + v.encode() for k, v in fields.items())
    block = b"8BIM" + b"\x04\x04" + b"\x00\x00" + struct.pack(">I", len(records)) + records + (b"\x00" if len(records) % 2 else b"")
    payload = b"Photoshop 3.0\x00" + block
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_metadata_authors_wrote_is_evidence() -> None:
    exif = Image.Exif()
    exif[0x010E] = "A lighthouse on a rocky point at dusk"
    exif[0x9C9B] = "Harbour light".encode("utf-16-le") + b"\x00\x00"
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           b'xmlns:dc="http://purl.org/dc/elements/1.1/"><rdf:Description><dc:description><rdf:Alt>'
           b'<rdf:li xml:lang="x-default">Waves break below the tower</rdf:li></rdf:Alt></dc:description>'
           b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    loaded = load_image(_with_iptc(_jpeg(exif=exif, xmp=xmp), {105: "Storm season", 120: "The old lighthouse"}), "a.jpg")
    assert loaded.metadata == (
        ("EXIF ImageDescription", "A lighthouse on a rocky point at dusk"),
        ("EXIF XPTitle", "Harbour light"),
        ("XMP description", "Waves break below the tower"),
        ("IPTC Headline", "Storm season"),
        ("IPTC Caption-Abstract", "The old lighthouse"),
    )
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Quarterly report cover")
    info.add_itxt("Description", "Three bars, rising")
    png = load_image(_png(Image.new("RGB", (20, 20)), pnginfo=info), "b.png")
    assert png.metadata == (("PNG Title", "Quarterly report cover"), ("PNG Description", "Three bars, rising"))


@pytest.mark.parametrize("junk", ["OLYMPUS DIGITAL CAMERA", "DSC_0012", "IMG_1234.JPG", "SONY DSC", "Created with GIMP", "   ", "untitled",
                                  "20190512_101010", "KODAK Digital Still Camera", "---"])
def test_camera_junk_is_not_a_description(junk: str) -> None:
    assert clean(junk) == ""


def test_real_words_are_kept_and_xml_tricks_are_not_read() -> None:
    assert clean("Route 66 at night") == "Route 66 at night" and clean("A cat\x00 on a mat\n") == "A cat on a mat"
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    assert load_image(_jpeg(xmp=bomb), "c.jpg").metadata == ()
    broken = Image.new("RGB", (4, 4))
    broken.info["xmp"] = b"<not xml"
    assert authored(broken) == ()


# Colours ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rgb", "name"), [
    ((255, 0, 0), "red"), ((13, 110, 253), "blue"), ((25, 135, 84), "green"), ((253, 126, 20), "orange"), ((255, 205, 0), "yellow"),
    ((111, 66, 193), "purple"), ((255, 182, 193), "pink"), ((139, 69, 19), "brown"), ((128, 128, 128), "grey"), ((250, 250, 250), "white"),
    ((10, 10, 10), "black"), ((173, 216, 230), "blue"),
])
def test_colours_are_named_from_a_fixed_table(rgb: tuple[int, int, int], name: str) -> None:
    assert colour_names.name(rgb) == name and name in colour_names.NAMES


def test_colours_are_tied_to_what_the_pixels_tie_them_to(reader) -> None:  # type: ignore[no-untyped-def]
    login = gather(load_image_file(_drawn("login.png")), _read(reader, "login.png"), ["login.png"], False)
    assert ("background", "", "white") in login.colours and ("on", "Sign in", "blue") in login.colours
    traffic = gather(load_image_file(_drawn("traffic.png")), _read(reader, "traffic.png"), ["traffic.png"], False)
    assert {("key", "Search 45%", "blue"), ("key", "Direct 30%", "green"), ("key", "Social 25%", "orange")} <= set(traffic.colours)
    # A logo's circle is not a legend key for the word beside it; a photo gets no tones.
    logo = gather(load_image_file(_drawn("acme-logo.png")), _read(reader, "acme-logo.png"), ["acme-logo.png"], False)
    assert not [c for c in logo.colours if c[0] == "key"]
    photo = load_image_file(PHOTO)
    assert tie_colours(photo.image, Kind("photo", ""), []) == ()


# Facts and the composed alt text -----------------------------------------------------------------


SCREEN = Evidence(kind="screenshot", read=True, text=(
    TextLine("Acme Cloud", (0.4, 0.1, 0.6, 0.17), 0.99), TextLine("Email", (0.36, 0.4, 0.42, 0.43), 0.99),
    TextLine("Password", (0.36, 0.5, 0.46, 0.53), 0.99), TextLine("Sign in", (0.45, 0.8, 0.55, 0.83), 0.98)),
    colours=(("background", "", "white"), ("on", "Sign in", "blue")))


def test_facts_name_their_source_and_position() -> None:
    assert SCREEN.facts("en") == ["Kind of image: screenshot of a user interface", "Visible text, top to bottom:",
                                  '- title, top: "Acme Cloud"', '- centre: "Email"', '- centre: "Password"', '- bottom: "Sign in"',
                                  "Background: white", '"Sign in" is on a blue box']
    assert SCREEN.facts("zh")[:3] == ["图片类型：界面截图", "图中文字，从上到下：", "- 标题，上方：“Acme Cloud”"]
    assert Evidence(kind="photo", read=True).facts("en") == ["Kind of image: photograph"]  # a photo without text says nothing of it


@pytest.mark.parametrize(("evidence", "language", "link", "text"), [
    pytest.param(SCREEN, "en", "", "Screenshot of a user interface: Acme Cloud; Email; Password; Sign in.", id="screenshot"),
    pytest.param(dataclasses.replace(SCREEN, kind="text"), "en", "", "Acme Cloud Email Password Sign in.", id="image-of-text"),
    pytest.param(dataclasses.replace(SCREEN, kind="chart"), "zh", "", "图表：Acme Cloud；Email；Password；Sign in。", id="chart-zh"),
    pytest.param(Evidence(kind="photo", captions=("a pretty lady sitting on a motorcycle",)), "en", "", "A lady sitting on a motorcycle.",
                 id="caption-without-subjective-words"),
    pytest.param(Evidence(kind="photo", captions=("a dog on the grass",)), "zh", "", "", id="no-chinese-from-an-english-caption"),
    pytest.param(Evidence(kind="photo", captions=("a dog",), metadata=(("XMP description", "Rex, our dog, asleep"),)), "en", "",
                 "Rex, our dog, asleep.", id="authored-first"),
    pytest.param(Evidence(kind="logo", read=True), "en", "/docs/getting-started/", "Getting started.", id="link-target"),
    pytest.param(Evidence(kind="illustration", read=True, colours=(("main", "green, grey", ""),)), "en", "", "", id="nothing-to-say"),
])
def test_compose_from_the_evidence_alone(evidence: Evidence, language: str, link: str, text: str) -> None:
    assert compose(evidence, language, 187, link) == text


def test_visible_text_that_does_not_fit_is_left_out_whole() -> None:
    many = dataclasses.replace(SCREEN, kind="diagram", text=tuple(TextLine(f"Step number {k}", (0.1, k / 30, 0.3, k / 30 + 0.02), 0.9) for k in range(20)))
    items = visible_items(many, "en", 120)
    assert items == [f"Step number {k}" for k in range(len(items))] and 4 < len(items) < 20
    assert len(compose(many, "en", 120)) <= 120


# The pipeline with no captioner and no model ------------------------------------------------------


def test_captioner_none_describes_screenshots_charts_and_diagrams_from_their_text(reader) -> None:  # type: ignore[no-untyped-def]
    items = {i["id"]: i for i in _labels()}
    names = ["login", "active-users", "pipeline", "quote", "zh-login", "spacer", "hills"]
    paths = [os.path.join(DRAWN, str(items[n]["image"])) for n in names]
    results = describe(paths, None, dataclasses.replace(NONE, language="auto"), page_languages=[str(items[n]["language"]) for n in names],
                       reader=reader)
    by = dict(zip(names, results))
    assert by["login"].text.startswith("Screenshot of a user interface: Acme Cloud; ") and "Forgot password?" in by["login"].text
    assert by["active-users"].text.startswith("Chart: Monthly active users; Jan; Feb;")
    assert by["quote"].text == "Make it work, make it right, make it fast."
    assert by["zh-login"].text.startswith("界面截图：") and "用户名" in by["zh-login"].text
    assert not any(r.needs_review for r in (by["login"], by["quote"], by["zh-login"]))  # nothing was repaired
    spacer = by["spacer"]
    assert (spacer.text, spacer.decorative, spacer.needs_review) == ("", True, True) and spacer.reason.startswith("probably decorative (a tiny image (1x1))")
    assert (by["hills"].text, by["hills"].reason) == ("", "nothing in the picture or its file says what it shows; it needs a person's description")
    assert by["pipeline"].notes == ()  # it all fits
    assert all(r.captioner == "none" and r.caption == "" for r in results)


def test_images_the_loader_guards_against_still_get_one_line(tmp_path: os.PathLike[str], reader) -> None:  # type: ignore[no-untyped-def]
    folder = str(tmp_path)
    frames = [Image.new("RGB", (120, 60), c) for c in ((250, 250, 250), (0, 0, 0))]
    for frame in frames[:1]:
        from PIL import ImageDraw

        ImageDraw.Draw(frame).text((10, 20), "HELLO", fill=(0, 0, 0))
    frames[0].save(os.path.join(folder, "anim.gif"), save_all=True, append_images=frames[1:], duration=100)
    Image.new("I;16", (80, 40), 40000).save(os.path.join(folder, "deep.png"))
    Image.new("CMYK", (80, 40), (0, 200, 200, 0)).save(os.path.join(folder, "print.jpg"))
    Image.new("RGBA", (80, 40), (0, 0, 0, 0)).save(os.path.join(folder, "clear.png"))
    with open(os.path.join(folder, "broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with open(os.path.join(folder, "bomb.png"), "wb") as f:
        f.write(_png(Image.new("1", (9000, 9000))))
    names = ["anim.gif", "deep.png", "print.jpg", "clear.png", "broken.png", "bomb.png"]
    results = describe([os.path.join(folder, n) for n in names], None, NONE, reader=reader)
    by = dict(zip(names, results))
    for name in ("anim.gif", "deep.png", "print.jpg", "clear.png"):
        assert by[name].error is None and (by[name].text or by[name].reason), name
    assert by["broken.png"].error.startswith(os.path.join(folder, "broken.png") + ": ")
    assert "over the limit of 64000000 pixels" in by["bomb.png"].error
    assert all("\n" not in (r.error or "") + (r.reason or "") for r in results)


def test_fix_with_no_models_at_all_writes_the_visible_text_and_leaves_decorative_images_for_review(
        tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from alttext.cli import main

    require("rapidocr_onnxruntime")
    monkeypatch.chdir(tmp_path)
    os.makedirs("img")
    for name in ("delete-dialog.png", "spacer.png"):
        shutil.copy(_drawn(name), os.path.join("img", name))
    page = '<p>Deleting a project</p>\n<img src="img/delete-dialog.png">\n<img src="img/spacer.png">\n'
    with open("page.html", "w", encoding="utf-8") as f:
        f.write(page)
    assert main(["fix", "page.html", "--captioner", "none", "--backend", "none"]) == 1
    out, err = capsys.readouterr()
    alt = "Screenshot of a user interface: Delete project?; This action cannot be undone; Cancel; Delete."
    with open("page.html", encoding="utf-8") as f:
        assert f.read() == page.replace('delete-dialog.png">', f'delete-dialog.png" alt="{alt}">')
    assert out.splitlines() == [
        f'page.html:2:1: alt text added for img/delete-dialog.png: "{alt}"',
        'page.html:3:1: ALT001 image "img/spacer.png" has no alt text (not fixed: probably decorative (a tiny image (1x1)): '
        'if it is, give it alt="" (in Markdown, put <!-- alttext: decorative --> before it))',
    ]
    assert "Rewriting page.html" in err
    assert main(["fix", "page.html", "--captioner", "none", "--backend", "none", "--report", "report.json"]) == 1
    with open("report.json", encoding="utf-8") as f:
        [entry] = json.load(f)["entries"]
    assert (entry["src"], entry["alt"], entry["decorative"], entry["kind"], entry["needs_review"]) == ("img/spacer.png", "", True, "decorative", True)


def test_a_picture_the_ocr_engine_fails_on_is_described_from_the_rest() -> None:
    class Failing:
        def read(self, image: object) -> list[TextLine]:
            raise RuntimeError("ONNXRuntimeError: bad input\nmore detail")

    [d] = describe([_drawn("acme-logo.png")], None, NONE, reader=Failing())
    assert d.error is None and d.kind == "logo" and d.reason == "nothing in the picture or its file says what it shows; it needs a person's description"
    assert d.notes == ("the text in the picture could not be read (ONNXRuntimeError: bad input)",)
