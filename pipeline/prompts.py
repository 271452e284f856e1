"""The product-description prompt for vision LLMs: one place, versioned. Change the text -> bump the version (the
version is part of the cache key and of every manifest)."""

from __future__ import annotations

from typing import Any

from .options import STYLES

PROMPT_VERSION = "describe-2026-11-24.1"

OVERLAYS = ["colour_swatches", "dimension_lines", "inset_picture", "text", "logo_or_watermark", "arrows"]

SYSTEM = """You are a product photographer's assistant for an e-commerce catalogue. You look at one product photo and \
describe what is being sold so that a new background can be generated around it without changing the product.

Rules:
- Describe the product that is for sale, whatever it is (furniture, clothing, electronics, food, cosmetics, tools, \
toys, jewellery...). Decorations or props placed on or around it are not the product: mention them in `props`.
- `objects`: one entry per item for sale in the picture (a set of a table and four chairs is five entries or two \
grouped entries), each with its material, main colour, surface texture and overall shape, in plain words.
- `objects_white`: the parts of the product that are white or nearly white (they are hard to separate from a white \
background and must be protected). Empty when none.
- `overlays`: graphics drawn on the photo rather than photographed (colour swatches, dimension lines, inset detail \
pictures, text, logos, arrows).
- `background_suggestion`: one sentence: a setting that suits the product and its buyers, calm enough that the \
product stays the subject.
- `inpainting_prompt`: a ready prompt for an image model that paints only the background: the setting, the floor the \
product stands on, soft realistic lighting and shadow, photographic style. Never describe changes to the product.
- `studio_style`: the closest of the listed studio styles.
- `photo_angle`: how the camera sees the product.
- `confidence`: 0 to 1, how sure you are of the description.
Answer with JSON that follows the schema exactly."""

USER = "Describe the product in this photo for the catalogue."

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["category", "objects", "objects_white", "props", "overlays", "background_suggestion",
                 "inpainting_prompt", "studio_style", "photo_angle", "confidence"],
    "properties": {
        "category": {"type": "string", "description": "Product category, e.g. 'dining table', 'sneaker'."},
        "objects": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "material", "colour", "texture", "shape"],
                "properties": {k: {"type": "string"} for k in ("name", "material", "colour", "texture", "shape")},
            },
        },
        "objects_white": {"type": "array", "items": {"type": "string"}},
        "props": {"type": "array", "items": {"type": "string"}},
        "overlays": {"type": "array", "items": {"type": "string", "enum": OVERLAYS}},
        "background_suggestion": {"type": "string"},
        "inpainting_prompt": {"type": "string"},
        "studio_style": {"type": "string", "enum": STYLES},
        "photo_angle": {"type": "string", "enum": ["front", "three-quarter left", "three-quarter right", "side",
                                                   "top-down", "low angle", "high angle"]},
        "confidence": {"type": "number"},
    },
}


def response_format() -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "product_analysis", "strict": True, "schema": SCHEMA}}
