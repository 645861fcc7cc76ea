"""Build the two step images and render the CWL workflow with their pull-by-digest references.

Standard library only, like ``../gc-content/build_image.py`` (which it loads by path and reuses):

* ``gc-content`` image: the gc-content pipeline, unchanged (same digest as ``build_image.py``);
* ``gc-summary`` image: the same busybox base with ``pipeline/gc-summary.sh`` at
  ``/usr/local/bin/gc-summary.sh``; byte-reproducible the same way (fixed epoch, sorted tar).

The CWL files name their images as ``@GC_IMAGE@`` and ``@SUMMARY_IMAGE@``; :func:`render` writes
copies naming ``HOST/REPO@sha256:...`` so cwltool pulls exactly the pushed images, plus the job
file ``job.yml``. Usage::

    python prepare.py images --out DIR [--busybox /bin/busybox]     # prints both digests
    python prepare.py render --gc REF@DIGEST --summary REF@DIGEST --reads DIR --out DIR \\
        [--k 3] [--min-length 0] [--min-gc 0.5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
GC_CONTENT = HERE.parent / "gc-content"
SUMMARY_SCRIPT = HERE / "pipeline" / "gc-summary.sh"
SUMMARY_VERSION = "1.0.0"
CWL_FILES = ("workflow.cwl", "gc.cwl", "summary.cwl")


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gc_content_build_image", GC_CONTENT / "build_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def build_images(out_dir: str | Path, busybox: str | Path = "/bin/busybox") -> dict[str, Any]:
    """Build both OCI layouts under ``out_dir`` (``gc-content/``, ``gc-summary/``); return their ImageBuilds."""
    b = _builder()
    out = Path(out_dir)
    return {
        "gc-content": b.build_layout(out / "gc-content", b.DEFAULT_TAG, busybox),
        "gc-summary": b.build_layout(
            out / "gc-summary", SUMMARY_VERSION, busybox, script_path=SUMMARY_SCRIPT,
            script_in_image="usr/local/bin/gc-summary.sh", title="gc-summary", version=SUMMARY_VERSION,
            description="Summary statistics of a gc-content table (busybox sh + awk)"),
    }


def render(out_dir: str | Path, gc_image: str, summary_image: str, reads: str | Path, *, k: int = 3,
           min_length: int = 0, min_gc: str = "0.5") -> Path:
    """Write the workflow with its images pinned, and ``job.yml``; return the path of ``workflow.cwl``."""
    for ref in (gc_image, summary_image):
        if "@sha256:" not in ref:
            raise ValueError(f"{ref!r} is not pinned by digest (HOST/REPO@sha256:...)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in CWL_FILES:
        text = (HERE / name).read_text(encoding="utf-8")
        text = text.replace("@GC_IMAGE@", gc_image).replace("@SUMMARY_IMAGE@", summary_image)
        (out / name).write_text(text, encoding="utf-8")
    job = {"reads": {"class": "Directory", "location": Path(reads).resolve().as_uri()},
           "k": k, "min_length": min_length, "min_gc": min_gc}
    (out / "job.yml").write_text(json.dumps(job, indent=2) + "\n", encoding="utf-8")
    return out / "workflow.cwl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    images = sub.add_parser("images", help="build both OCI image layouts")
    images.add_argument("--out", required=True, type=Path)
    images.add_argument("--busybox", default="/bin/busybox", type=Path)
    rend = sub.add_parser("render", help="write the workflow naming the pushed images by digest")
    rend.add_argument("--gc", required=True)
    rend.add_argument("--summary", required=True)
    rend.add_argument("--reads", required=True, type=Path)
    rend.add_argument("--out", required=True, type=Path)
    rend.add_argument("--k", type=int, default=3)
    rend.add_argument("--min-length", type=int, default=0)
    rend.add_argument("--min-gc", default="0.5")
    args = parser.parse_args(argv)
    if args.command == "images":
        for name, build in build_images(args.out, args.busybox).items():
            print(f"{name}\t{args.out / name}\t{build.manifest.digest}")
    else:
        print(render(args.out, args.gc, args.summary, args.reads, k=args.k, min_length=args.min_length,
                     min_gc=args.min_gc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
