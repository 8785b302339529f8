"""Look at, resume or cancel a crawl job: ``manage.py crawl_job resume 12``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from emotic.errors import FieldError
from scraper.management.commands._crawl_cli import run_with_progress, summary
from scraper.models import CrawlJob
from scraper.services.jobs import cancel_crawl_job, resume_crawl_job


class Command(BaseCommand):
    help = "Show, resume (done items are skipped, transient failures retried) or cancel a crawl job."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "resume", "cancel"])
        parser.add_argument("job_id", type=int, metavar="JOB")
        parser.add_argument("--background", action="store_true", help="resume: queue for Celery instead of running here.")

    def handle(self, *args, **options):
        try:
            job = CrawlJob.objects.get(pk=options["job_id"])
        except CrawlJob.DoesNotExist:
            raise CommandError(f"JOB: there is no crawl job #{options['job_id']}") from None
        if options["action"] == "show":
            self.stdout.write(summary(job))
        elif options["action"] == "cancel":
            cancel_crawl_job(job)
            self.stdout.write(summary(job))
        else:
            try:
                job = resume_crawl_job(job)
            except FieldError as error:  # its path is gone, or outside the import roots
                raise CommandError(f"job #{job.pk}: {error}") from None
            run_with_progress(self, job, background=options["background"])
