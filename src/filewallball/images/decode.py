"""Runs in its own short-lived process (`python -m filewallball.images.decode`), under a time
and memory limit set by the parent: it opens one uploaded image with allow-listed decoders
only, and writes its thumbnails.

Prints one JSON line: {"width", "height", "format", "thumbnails": {size: file}}.
Exits non-zero, with the reason on stderr, for anything it cannot or will not decode.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import warnings
from pathlib import Path

from PIL import Image, ImageOps

# Raster formats we decode; no other decoder (EPS, FITS, PSD, ...) ever sees uploaded bytes.
DECODERS = ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]
SIZES = {"small": 256, "medium": 1024}


def make_thumbnails(source: Path, target: Path, max_pixels: int) -> dict[str, object]:
    Image.MAX_IMAGE_PIXELS = max_pixels
    # Past the limit Pillow only warns; a bomb must be an error.
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    with Image.open(source, formats=DECODERS) as image:
        image_format = image.format or "unknown"
        width, height = image.size
        image.load()
        upright = ImageOps.exif_transpose(image)
        if upright.mode not in ("RGB", "RGBA"):
            upright = upright.convert("RGBA" if "transparency" in upright.info else "RGB")
        made = {}
        for name, edge in SIZES.items():
            copy = upright.copy()
            copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
            # A fresh save without exif/icc/xmp: no metadata of the original survives.
            out = target / f"{name}.webp"
            copy.save(out, format="WEBP", quality=82, method=4)
            made[name] = out.name
    width, height = upright.size
    return {"width": width, "height": height, "format": image_format, "thumbnails": made}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--max-pixels", type=int, required=True)
    parser.add_argument("--max-memory", type=int, required=True)
    parser.add_argument("--max-seconds", type=int, required=True)
    args = parser.parse_args()
    # Set here, in the child, not by the parent: the parent has threads, and limits set
    # between fork and exec are not safe with threads.
    resource.setrlimit(resource.RLIMIT_AS, (args.max_memory, args.max_memory))
    # A CPU ceiling of its own, should the parent die before it can kill this process.
    resource.setrlimit(resource.RLIMIT_CPU, (args.max_seconds, args.max_seconds))
    try:
        result = make_thumbnails(args.source, args.target, args.max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        print("decompression bomb: too many pixels", file=sys.stderr)
        sys.exit(3)
    except MemoryError:
        print("out of memory", file=sys.stderr)
        sys.exit(4)
    except Exception as exc:  # corrupt, truncated, hostile: the reason, never a traceback
        print(f"cannot decode: {type(exc).__name__}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
