"""What the crawl commands share: argument checks, the progress bar, the summary."""

from __future__ import annotations

import argparse

from django.core.management.base import CommandError
from tqdm import tqdm

from emotic.errors import FieldError
from scraper.models import CrawlJob
from scraper.services.jobs import create_crawl_job, enqueue_crawl_job, release_claims, run_crawl_job


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def word_list(text: str) -> list[str]:
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words:
        raise argparse.ArgumentTypeError("give comma-separated words, e.g. park,office")
    return words


def create_job_or_explain(kind: str, params: dict, flags: dict[str, str]) -> CrawlJob:
    """Create the job; a parameter error is reported with the command-line flag it came from."""
    try:
        return create_crawl_job(kind, params, created_by="command line")
    except FieldError as error:  # SourceError included
        raise CommandError(f"{flags.get(error.field, error.field)}: {error.reason}") from None
    except ValueError as error:  # no field to name: said as it is
        raise CommandError(str(error)) from None


def summary(job: CrawlJob) -> str:
    lines = [
        f"job #{job.pk} {job.state}: found {job.found}, fetched {job.fetched}, stored {job.stored}, "
        f"exact duplicates {job.exact_duplicates}, near duplicates {job.near_duplicates}, rejected {job.rejected}"
    ]
    lines += [f"  rejected ({reason}): {count}" for reason, count in job.rejected_by_reason.items()]
    if job.refused_for_license:
        lines.append(f"  refused for their licence: {job.refused_for_license}")
    kept_unknown = job.items.filter(license_code="unknown").exclude(state="rejected").count()
    if kept_unknown:
        lines.append(f"  kept with an unknown licence (SCRAPER_UNKNOWN_LICENSE=keep): {kept_unknown}")
    lines += [f"  source {name} stopped ({entry['reason']}): {entry['detail']}" for name, entry in job.degraded_sources.items()]
    if job.page_errors:
        lines.append(f"  result pages that could not be read: {len(job.page_errors)} (first: {job.page_errors[0]})")
    return "\n".join(lines)


def run_with_progress(command, job: CrawlJob, *, background: bool) -> None:
    """Run the job here with a progress bar (or hand it to Celery), then print the summary."""
    if background:
        enqueue_crawl_job(job)
        command.stdout.write(f"job #{job.pk} queued for the Celery workers; follow it in the admin")
        return
    with tqdm(total=0, unit="img", desc=f"job #{job.pk}", file=command.stderr, dynamic_ncols=True) as bar:

        def show(current: CrawlJob) -> None:
            bar.total = max(current.found, 1)
            bar.n = current.processed
            bar.set_postfix(stored=current.stored, dup=current.exact_duplicates + current.near_duplicates, rejected=current.rejected)
            bar.refresh()

        try:
            job = run_crawl_job(job, on_progress=show)
        except KeyboardInterrupt:
            release_claims(job)
            raise CommandError(f"interrupted; continue with: manage.py crawl_job resume {job.pk}") from None
    command.stdout.write(summary(job))
    if job.state in (CrawlJob.State.FAILED, CrawlJob.State.DEGRADED):  # a source that stopped is said loudly
        raise CommandError(job.error)
