"""Search image sources and store the images: ``manage.py scrape --engine openverse --engine wikimedia --query "..." --limit 100``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from emotic.errors import FieldError
from scraper.management.commands._crawl_cli import create_job_or_explain, positive_int, run_with_progress, word_list
from emotic.licenses import POLICIES
from scraper.services.jobs import search_queries
from scraper.sources.registry import SEARCH_SOURCES


class Command(BaseCommand):
    help = "Search image sources for queries (or a template of places x activities x emotions) and store the results."

    def add_arguments(self, parser):
        parser.add_argument(
            "--engine", required=True, action="append", choices=sorted(SEARCH_SOURCES),
            help="Search source to query; repeat for several (each query goes to every one). bing and google parse result "
            "pages: only for endpoints you are allowed to crawl.",
        )  # fmt: skip
        parser.add_argument("--query", action="append", default=[], help="A query; repeat for several.")
        parser.add_argument("--template", default="", help='Query template, e.g. "{emotion} people {activity} in a {place}".')
        parser.add_argument("--places", type=word_list, help="Comma-separated words for {place}.")
        parser.add_argument("--activities", type=word_list, help="Comma-separated words for {activity}.")
        parser.add_argument("--emotions", type=word_list, help="Comma-separated words for {emotion} (default: the 26 categories).")
        parser.add_argument("--limit", type=positive_int, required=True, help="Images to find per query.")
        parser.add_argument(
            "--licenses", default="any",
            help=f"Licences let in: {', '.join(POLICIES)}, or comma-separated licence codes (e.g. cc0,pdm,by,by-sa).",
        )  # fmt: skip
        parser.add_argument("--unknown-license", choices=["keep", "refuse"], help="Images whose source gives no licence (default: SCRAPER_UNKNOWN_LICENSE).")
        parser.add_argument("--background", action="store_true", help="Queue the job for Celery instead of running it here.")

    def handle(self, *args, **options):
        words = {"place": options["places"], "activity": options["activities"], "emotion": options["emotions"]}
        try:
            queries = search_queries(queries=options["query"], template=options["template"], words={k: v for k, v in words.items() if v})
        except FieldError as error:
            raise CommandError(f"--{error.field}: {error.reason}") from None
        except ValueError as error:  # Python's own refusal of the template ("Single '{' encountered ...")
            raise CommandError(f"--template: {error}") from None
        if not queries:
            raise CommandError("--query: give at least one --query or a --template")
        licenses = options["licenses"] if options["licenses"] in POLICIES else [w.strip() for w in options["licenses"].split(",") if w.strip()]
        params = {"engines": options["engine"], "queries": queries, "limit": options["limit"], "licenses": licenses}
        if options["unknown_license"]:
            params["unknown_license"] = options["unknown_license"]
        job = create_job_or_explain(
            "search",
            params,
            {
                "engines": "--engine", "queries": "--template" if options["template"] else "--query", "limit": "--limit",
                "licenses": "--licenses", "unknown_license": "--unknown-license",
            },
        )  # fmt: skip
        run_with_progress(self, job, background=options["background"])
