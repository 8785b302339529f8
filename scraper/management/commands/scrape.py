"""Search an engine and store the images: ``manage.py scrape --engine bing --query "..." --limit 100``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from emotic.errors import FieldError
from scraper.management.commands._crawl_cli import create_job_or_explain, positive_int, run_with_progress, word_list
from scraper.services.jobs import search_queries
from scraper.sources.search_engines import ENGINES


class Command(BaseCommand):
    help = "Search an image engine for queries (or a template of places x activities x emotions) and store the results."

    def add_arguments(self, parser):
        parser.add_argument("--engine", required=True, choices=sorted(ENGINES), help="Search engine to query.")
        parser.add_argument("--query", action="append", default=[], help="A query; repeat for several.")
        parser.add_argument("--template", default="", help='Query template, e.g. "{emotion} people {activity} in a {place}".')
        parser.add_argument("--places", type=word_list, help="Comma-separated words for {place}.")
        parser.add_argument("--activities", type=word_list, help="Comma-separated words for {activity}.")
        parser.add_argument("--emotions", type=word_list, help="Comma-separated words for {emotion} (default: the 26 categories).")
        parser.add_argument("--limit", type=positive_int, required=True, help="Images to find per query.")
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
        job = create_job_or_explain(
            "search",
            {"engine": options["engine"], "queries": queries, "limit": options["limit"]},
            {"engine": "--engine", "queries": "--query", "limit": "--limit"},
        )
        run_with_progress(self, job, background=options["background"])
