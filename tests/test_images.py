from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from alttext.pipeline.images import ImageError, load_image, load_image_file
from tests.helpers import without_blocking


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _striped(size: tuple[int, int] = (64, 32)) -> Image.Image:
    im = Image.new("RGB", size, "white")
    im.paste((200, 0, 0), (0, 0, size[0] // 2, size[1]))  # left half red
    return im


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_formats_load_as_rgb(fmt: str) -> None:
    loaded = load_image(_encode(_striped(), fmt), f"a.{fmt.lower()}")
    assert (loaded.format, loaded.image.mode, loaded.image.size) == (fmt, "RGB", (64, 32))
    assert loaded.image.getpixel((2, 2))[0] > 150 and loaded.image.getpixel((60, 2))[1] > 200
    assert len(loaded.sha256) == 64


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    loaded = load_image(_encode(_striped(), "JPEG", exif=exif), "phone.jpg")
    assert loaded.image.size == (32, 64)  # width and height swapped for display
    assert (loaded.width, loaded.height) == (64, 32)  # as stored


def test_transparency_is_flattened_onto_white() -> None:
    im = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    im.paste((0, 0, 255, 255), (0, 0, 5, 10))
    loaded = load_image(_encode(im, "PNG"), "icon.png")
    assert loaded.image.getpixel((8, 5)) == (255, 255, 255)
    assert loaded.image.getpixel((1, 5)) == (0, 0, 255)


def test_palette_with_transparency() -> None:
    im = Image.new("P", (4, 4), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.info["transparency"] = 0
    loaded = load_image(_encode(im, "PNG", transparency=0), "p.png")
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue", "green")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    loaded = load_image(buf.getvalue(), "anim.gif")
    r, g, b = loaded.image.getpixel((4, 4))
    assert r > 200 and g < 50 and b < 50


def test_cmyk_jpeg() -> None:
    loaded = load_image(_encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), "print.jpg")
    r, g, b = loaded.image.getpixel((4, 4))
    assert loaded.image.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_sixteen_bit_png_keeps_its_tones() -> None:
    im = Image.new("I;16", (8, 8), 32768)
    loaded = load_image(_encode(im, "PNG"), "scan.png")
    assert 120 <= loaded.image.getpixel((4, 4))[0] <= 135  # half grey, not clipped to white


def test_huge_image_is_downscaled() -> None:
    loaded = load_image(_encode(Image.new("RGB", (5000, 2500), "navy"), "PNG"), "big.png")
    assert loaded.image.size == (1024, 512) and (loaded.width, loaded.height) == (5000, 2500)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = _encode(Image.new("1", (12000, 12000)), "PNG")  # 144 MP, a few kilobytes
    assert len(data) < 100_000
    with pytest.raises(ImageError) as info:
        load_image(data, "bomb.png")
    assert str(info.value) == (
        "bomb.png: 12000x12000 pixels is over the limit of 64000000 pixels (a decompression bomb?); not decoded"
    )


BROKEN = [
    pytest.param(b"", "z.png", "z.png: empty file, not an image", id="zero-bytes"),
    pytest.param(b"not an image at all", "x.png", "x.png: not an image format Pillow can read", id="corrupt"),
]


@pytest.mark.parametrize(("data", "name", "message"), BROKEN)
def test_broken_images(data: bytes, name: str, message: str) -> None:
    with pytest.raises(ImageError) as info:
        load_image(data, name)
    assert str(info.value) == message


def test_truncated_png() -> None:
    data = _encode(_striped((300, 300)).effect_spread(5), "PNG")
    with pytest.raises(ImageError, match=r"^cut\.png: corrupt or truncated image \("):
        load_image(data[: len(data) // 2], "cut.png")


def test_size_limit() -> None:
    with pytest.raises(ImageError, match=r"^a\.png: 20 bytes is over the image size limit \(10 bytes\)$"):
        load_image(b"x" * 20, "a.png", max_bytes=10)


SVG_WITH_TEXT = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">
  <title>Sales by quarter</title>
  <desc>A bar chart with four bars rising from left to right.</desc>
  <text x="0" y="30">Q1 <tspan>Q2</tspan></text>
</svg>"""


def test_svg_text_is_the_visual_facts() -> None:
    loaded = load_image(SVG_WITH_TEXT, "chart.svg")
    assert loaded.format == "SVG" and loaded.image is None and (loaded.width, loaded.height) == (120, 40)
    assert loaded.svg_text == ("Sales by quarter", "A bar chart with four bars rising from left to right.", "Q1 Q2")


def test_svg_sniffed_without_suffix() -> None:
    assert load_image(SVG_WITH_TEXT, "chart").format == "SVG"


SVG_BAD = [
    pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>', "c.svg",
                 "c.svg: SVG has no <title>, <desc> or <text> to describe it; it needs a human description", id="no-text"),
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg><title>&a;</title></svg>', "e.svg",
                 "e.svg: SVG declares XML entities; refused (entity expansion can exhaust memory)", id="entities"),
    pytest.param(b"<svg><title>unclosed</svg>", "u.svg", "u.svg: not valid SVG: mismatched tag: line 1, column 22", id="invalid"),
    # The guard reads the whole file: a long comment first used to hide the declarations.
    pytest.param(b"<!--" + b"x" * 5000 + b'--><!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><svg><title>&b;</title></svg>', "c.svg",
                 "c.svg: SVG declares XML entities; refused (entity expansion can exhaust memory)", id="entities-after-a-long-comment"),
    pytest.param(b'<?xml version="1.0"?>\n' + b" " * 5000 + b'<!DOCTYPE svg [<!ENTITY % p "x">]><svg><title>t</title></svg>', "p.svg",
                 "p.svg: SVG declares XML entities; refused (entity expansion can exhaust memory)", id="parameter-entity-after-whitespace"),
    pytest.param(b'<!DOCTYPE svg SYSTEM "x.dtd"><svg><title>&ext;</title></svg>', "x.svg",
                 "x.svg: not valid SVG: undefined entity &ext;: line 1, column 41", id="undeclared-entity"),
]


@pytest.mark.parametrize(("data", "name", "message"), SVG_BAD)
def test_svg_problems(data: bytes, name: str, message: str) -> None:
    with pytest.raises(ImageError) as info:
        load_image(data, name)
    assert str(info.value) == message


def test_svg_with_a_public_doctype_and_entity_words_in_text_loads() -> None:
    # A DOCTYPE alone (editors write one) is fine, and so is the word <!ENTITY in a comment.
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
            b'<svg xmlns="http://www.w3.org/2000/svg"><!-- no <!ENTITY here --><title>A &amp; B</title></svg>')
    assert load_image(data, "d.svg").svg_text == ("A & B",)




@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_not_waited_on(tmp_path: os.PathLike[str]) -> None:
    fifo = os.path.join(str(tmp_path), "pipe.png")
    os.mkfifo(fifo)
    with pytest.raises(ImageError) as info:
        without_blocking(fifo, lambda: load_image_file(fifo))
    assert str(info.value) == f"{fifo}: not a regular file (a FIFO); not read"


def test_a_folder_is_refused(tmp_path: os.PathLike[str]) -> None:
    folder = os.path.join(str(tmp_path), "photo.png")
    os.mkdir(folder)
    with pytest.raises(ImageError) as info:
        load_image_file(folder)
    assert str(info.value) == f"{folder}: not a regular file (a folder); not read"
