"""Import images (and their people) from a dataset: ``manage.py import_dataset --format coco PATH``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from emotic.licenses import POLICIES
from scraper.management.commands._crawl_cli import create_job_or_explain, run_with_progress

FORMATS = {
    "coco": "MS COCO instances JSON (people only; crowd boxes skipped)",
    "ade20k": "ADE20K index_ade20k.pkl, or the release folder holding it",
    "emotic": "EMOTIC Annotations.mat (images, people and their annotations)",
    "folder": "a folder of images, searched recursively",
    "urls": "a .txt list of image URLs (one a line) or a .csv with a url column",
}


class Command(BaseCommand):
    help = "Import a dataset, a folder or a URL list. Formats: " + "; ".join(f"{k}: {v}" for k, v in FORMATS.items())

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="What PATH is.")
        parser.add_argument("path", metavar="PATH", help="The dataset file, folder or list.")
        parser.add_argument("--images-dir", default="", help="coco: the folder of the images (default: next to annotations/).")
        parser.add_argument("--images-root", default="", help="emotic: the folder holding the image folders (default: the .mat's parent's parent).")
        parser.add_argument("--original-database", default="", help="folder/urls: the name recorded as original database.")
        parser.add_argument("--folder", default="", help="folder/urls: the EMOTIC folder recorded for the images.")
        parser.add_argument(
            "--licenses", default="", help="Licences let in (docs/scraper.md, Licences): any (the default), redistribution, "
            "commercial, commercial-modification, or comma-separated licence codes.",
        )  # fmt: skip
        parser.add_argument("--unknown-license", choices=["keep", "refuse"], help="Images without a licence (default: SCRAPER_UNKNOWN_LICENSE).")
        parser.add_argument("--background", action="store_true", help="Queue the job for Celery instead of running it here.")

    def handle(self, *args, **options):
        params = {"path": options["path"]}
        for option in ("images_dir", "images_root", "original_database", "folder", "unknown_license"):
            if options[option]:
                params[option] = options[option]
        if options["licenses"]:
            codes = [word.strip() for word in options["licenses"].split(",") if word.strip()]
            params["licenses"] = options["licenses"] if len(codes) == 1 and options["licenses"] in POLICIES else codes
        flags = {"path": "PATH", "images_dir": "--images-dir", "images_root": "--images-root", "licenses": "--licenses"}
        job = create_job_or_explain(options["format"], params, flags)
        run_with_progress(self, job, background=options["background"])
