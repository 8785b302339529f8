from django.core.management.base import BaseCommand

from demo.loader import load_demo_data


class Command(BaseCommand):
    help = "Load the bundled sample photos, people and demo accounts (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Use this password for every demo account instead of random ones.")

    def handle(self, *args, password=None, **options):
        summary = load_demo_data(password=password)
        self.stdout.write(
            f"Demo photos: {summary.images_created} new, {summary.images_existing} already loaded; "
            f"{summary.people} people ready for annotation."
        )
        self.stdout.write("Demo accounts (passwords are reset each time this runs):")
        for username, pw in summary.passwords.items():
            role = "admin" if username == "admin" else "worker"
            self.stdout.write(f"  {role:7s} {username:10s} password: {pw}")
