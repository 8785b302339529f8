"""Export the annotations as an EMOTIC snapshot, to a folder and/or to storage."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from emotic_export.files import FORMATS
from emotic_export.services import ExportError, ExportOptions, build_snapshot, create_snapshot, export_to_directory


def _ratios(text: str) -> dict[str, float]:
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise CommandError(f"--ratios: expected three numbers like 0.7,0.1,0.2, got {text!r}") from None
    if len(values) != 3:
        raise CommandError(f"--ratios: expected three numbers (train,val,test), got {len(values)}")
    return dict(zip(("train", "val", "test"), values))


class Command(BaseCommand):
    help = "Write an EMOTIC snapshot: --out DIR for a local folder, --store for a stored snapshot (or both)."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, help="Folder to create (must not exist).")
        parser.add_argument("--store", action="store_true", help="Also record and upload a stored snapshot.")
        parser.add_argument("--name", default="", help="Snapshot name (default emotic-vN).")
        parser.add_argument("--formats", default=",".join(FORMATS), help=f"Comma-separated, from {', '.join(FORMATS)}.")
        parser.add_argument("--ratios", default="0.7,0.1,0.2", help="train,val,test shares for unplaced images.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--label-rule", default="union-mean", help="union-mean, majority or dawid-skene.")
        parser.add_argument("--require-review", action="store_true", help="Only annotations an admin accepted.")

    def handle(self, *args, out, store, name, formats, ratios, seed, label_rule, require_review, **options):
        if out is None and not store:
            raise CommandError("--out: give a folder to write, or --store for a stored snapshot")
        try:
            export_options = ExportOptions(
                formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
                ratios=_ratios(ratios),
                seed=seed,
                label_rule=label_rule,
                require_review=require_review,
            )
        except ExportError as error:
            raise CommandError(f"--{error.field.replace('_', '-')}: {error.reason}") from None
        with tqdm(total=100, unit="%", disable=options.get("verbosity", 1) == 0) as bar:
            def progress(fraction: float, message: str) -> None:
                bar.n = round(fraction * 100)
                bar.set_description(message[:40])
                bar.refresh()

            try:
                if out is not None:
                    written = export_to_directory(out, export_options, name=name, progress=progress)
                    self.stdout.write(f"Wrote {written}")
                if store:
                    bar.reset()
                    snapshot = create_snapshot(name=name, options=export_options)
                    snapshot = build_snapshot(snapshot.pk, progress=progress)
                    self.stdout.write(f"Stored snapshot {snapshot.name} at {snapshot.storage_key}/ ({snapshot.counts})")
            except ExportError as error:
                raise CommandError(str(error)) from None
