"""A snapshot holds exactly the exportable annotations, in files existing EMOTIC tools read."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
import scipy.io
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from catalog.models import Image
from emotic.formats.arrays import read_baseline_arrays
from emotic.formats.coco import read_coco
from emotic.formats.jsonl import read_jsonl
from emotic.formats.manifest import read_manifest, verify_manifest
from emotic.formats.mat import read_annotations_mat
from emotic_export import services
from emotic_export.models import DatasetSnapshot
from emotic_export.services import ExportError, ExportOptions, build_snapshot, create_snapshot, export_to_directory
from tests.factories import EmotionAnnotationFactory, ImageFactory, PersonFactory, WorkerFactory, UserFactory

pytestmark = pytest.mark.django_db


def stored_files(prefix: str) -> list[str]:
    try:
        directories, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return []
    return [f"{prefix}/{f}" for f in files] + [f for d in directories for f in stored_files(f"{prefix}/{d}")]


def by_filename(records: dict) -> dict:
    return {image.filename: image for split in records.values() for image in split}


def test_a_folder_export_writes_every_format_and_reads_back_field_by_field(annotated_db, tmp_path):
    out = export_to_directory(tmp_path / "snap", ExportOptions())
    mat = by_filename(read_annotations_mat(out / "Annotations" / "Annotations.mat"))
    assert set(mat) == {"beach.jpg", "party.jpg", "office.jpg"}  # the blocked worker's image is left out

    beach = mat["beach.jpg"]
    assert (beach.split, beach.width, beach.height, beach.folder) == ("train", 320, 240, "web/images")
    (person,) = beach.people
    assert person.body_bbox == (10, 20, 110, 220)
    assert person.answers[0].categories == ("Happiness", "Pleasure")
    assert person.answers[0].vad == (8, 6, 7)
    assert (person.combined_gender, person.combined_age) == ("Male", "Adult")

    party = mat["party.jpg"]
    assert party.split == "val" and len(party.people) == 2
    first = party.people[0]
    assert len(first.answers) == 3  # the gold answer (Pain) is not data
    assert first.combined_categories == ("Engagement", "Excitement", "Happiness")  # union
    assert first.combined_continuous == pytest.approx((8.0, 6.0, 20 / 3))  # mean
    assert (first.combined_gender, first.combined_age) == ("Female", "Adult")  # majority

    office = mat["office.jpg"]
    (tired,) = office.people
    assert tired.combined_categories == ("Disconnection", "Fatigue")  # the rejected Fear is left out
    assert tired.combined_continuous == pytest.approx((3.5, 1.5, 4.5))

    # Images lie beside Annotations/ as EMOTIC ships them, byte for byte.
    stored = Image.objects.get(filename="party.jpg")
    assert (out / "emotic" / "web/images" / "party.jpg").read_bytes() == default_storage.open(stored.storage_key).read()

    # JSON Lines and COCO are lossless: every field of the records built from the database comes back.
    built = {image.filename: image for image in services.collect_dataset(ExportOptions()).images}
    for reader, path in ((read_jsonl, out / "annotations.jsonl"), (read_coco, out / "coco.json")):
        assert by_filename(reader(path)) == built, reader.__name__
    assert [a.annotator_id for a in by_filename(read_jsonl(out / "annotations.jsonl"))["party.jpg"].people[0].answers]

    val = read_baseline_arrays(out / "arrays", "val")
    assert val.context.shape == (2, 224, 224, 3) and val.context.dtype == np.uint8
    assert val.body.shape == (2, 128, 128, 3)
    assert val.categories.shape == (2, 26)
    assert val.continuous[0].tolist() == pytest.approx([8.0, 6.0, 20 / 3])

    manifest = read_manifest(out)
    assert manifest["counts"]["val"] == {"images": 1, "people": 2, "answers": 4}
    assert manifest["agreement"]["val"]["people_compared"] == 1
    assert manifest["agreement"]["test"]["vad_spread"]["valence"] == pytest.approx(np.std([4, 3], ddof=1), abs=1e-4)
    assert verify_manifest(out) == []


@pytest.mark.parametrize("struct_as_record", [True, False])
@pytest.mark.parametrize("squeeze_me", [True, False])
def test_the_mat_file_loads_with_plain_scipy_in_every_mode(annotated_db, tmp_path, struct_as_record, squeeze_me):
    out = export_to_directory(tmp_path / "snap", ExportOptions(formats=("mat",)))
    mat = scipy.io.loadmat(out / "Annotations" / "Annotations.mat", struct_as_record=struct_as_record, squeeze_me=squeeze_me)
    assert {"train", "val", "test"} <= set(mat)
    val = mat["val"]
    first = val.flat[0] if isinstance(val, np.ndarray) else val  # one image squeezes to a bare struct
    fields = val.dtype.names if struct_as_record else first._fieldnames
    assert list(fields) == ["filename", "folder", "image_size", "original_database", "person"]


def test_the_split_rule_keeps_placed_images_and_stratifies_new_ones(annotated_db, tmp_path):
    workers = [WorkerFactory() for _ in range(2)]
    fresh = []
    for i in range(20):
        image = ImageFactory(file=True, split="", filename=f"new{i}.jpg")
        person = PersonFactory(image=image)
        EmotionAnnotationFactory(person=person, worker=workers[i % 2], categories=["Happiness" if i % 2 else "Peace"])
        fresh.append(image)
    export_to_directory(tmp_path / "one", ExportOptions(formats=("jsonl",), seed=3))
    placed = dict(Image.objects.filter(pk__in=[i.pk for i in fresh]).values_list("pk", "split"))
    assert set(placed.values()) <= {"train", "val", "test"} and "" not in placed.values()
    assert list(placed.values()).count("train") >= 12
    # The originals kept their splits; a second snapshot changes nothing.
    assert [Image.objects.get(pk=i.pk).split for i in annotated_db.images] == ["train", "val", "test"]
    export_to_directory(tmp_path / "two", ExportOptions(formats=("jsonl",), seed=99))
    assert dict(Image.objects.filter(pk__in=placed).values_list("pk", "split")) == placed
    # No image is in two splits.
    records = read_jsonl(tmp_path / "two" / "annotations.jsonl")
    names = [image.filename for split in records.values() for image in split]
    assert len(names) == len(set(names))


def archived(snapshot) -> tuple[int, int]:
    """The archive's size, and the size of the files it holds."""
    data = default_storage.open(snapshot.archive_key).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return len(data), sum(member.size for member in tar.getmembers() if member.isfile())


def test_an_archive_of_photos_or_arrays_is_stored_and_one_of_metadata_compressed(annotated_db):
    """Deflate hardly shrinks photos and pixel arrays but costs ten times the time (archive_compression)."""
    arrays = build_snapshot(create_snapshot(name="with-arrays", options=ExportOptions(formats=("npy", "jsonl"))).pk)
    size, content = archived(arrays)
    assert size > content  # stored: the tar's headers and padding, nothing shrunk
    metadata = build_snapshot(create_snapshot(name="metadata", options=ExportOptions(formats=("jsonl", "coco"))).pk)
    size, content = archived(metadata)
    assert size < content / 3


def test_a_stored_snapshot_appears_complete_with_its_archive(annotated_db):
    admin = UserFactory(is_staff=True, is_superuser=True)
    snapshot = create_snapshot(name="First release", created_by=admin, options=ExportOptions(formats=("mat", "jsonl")))
    assert (snapshot.name, snapshot.version, snapshot.state) == ("first-release", 1, "pending")
    snapshot = build_snapshot(snapshot.pk)
    assert snapshot.state == "complete" and snapshot.progress == 1.0
    assert snapshot.counts["val"]["people"] == 2
    assert default_storage.exists(f"{snapshot.storage_key}/Annotations/Annotations.mat")
    assert default_storage.exists(f"{snapshot.storage_key}/manifest.json")
    with tarfile.open(fileobj=io.BytesIO(default_storage.open(snapshot.archive_key).read())) as tar:
        names = tar.getnames()
    assert "first-release/manifest.json" in names and "first-release/annotations.jsonl" in names
    # Immutable: building again changes nothing, the name cannot be reused.
    assert build_snapshot(snapshot.pk).completed_at == snapshot.completed_at
    with pytest.raises(ExportError, match="^name: a snapshot called 'first-release' exists"):
        create_snapshot(name="first-release")
    assert create_snapshot().name == "emotic-v2"


def test_a_failed_build_leaves_nothing_and_can_be_restarted(annotated_db, monkeypatch):
    snapshot = create_snapshot(name="flaky")
    real_write_coco = services.write_snapshot_folder.__globals__["write_coco"]

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(services.write_snapshot_folder.__globals__, "write_coco", disk_full)
    with pytest.raises(OSError):
        build_snapshot(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.state == "failed" and "No space left on device" in snapshot.error
    assert stored_files("snapshots") == []

    monkeypatch.setitem(services.write_snapshot_folder.__globals__, "write_coco", real_write_coco)
    assert build_snapshot(snapshot.pk).state == "complete"


def test_a_folder_export_never_overwrites_and_leaves_no_partial_folder(annotated_db, tmp_path, monkeypatch):
    exports = tmp_path / "exports"
    existing = exports / "taken"
    existing.mkdir(parents=True)
    with pytest.raises(ExportError, match="^out: .* already exists"):
        export_to_directory(existing, ExportOptions())

    monkeypatch.setitem(services.write_snapshot_folder.__globals__, "write_jsonl",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        export_to_directory(exports / "new", ExportOptions())
    assert sorted(p.name for p in exports.iterdir()) == ["taken"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"formats": ("mat", "hdf5")}, "^formats: unknown format 'hdf5'"),
        ({"formats": ()}, "^formats: choose at least one"),
        ({"label_rule": "mode"}, "^label_rule: must be one of"),
        ({"ratios": {"train": 0.9, "val": 0.3, "test": 0.0}}, "^ratios: must be non-negative and sum to 1"),
        ({"seed": -1}, "^seed: must be a non-negative integer"),
    ],
)
def test_bad_options_name_the_field(kwargs, message):
    with pytest.raises(ExportError, match=message):
        ExportOptions(**kwargs)


def test_an_empty_database_gives_a_clear_error(db, tmp_path):
    with pytest.raises(ExportError, match="^annotations: there are no exportable annotations"):
        export_to_directory(tmp_path / "snap", ExportOptions())
    assert not (tmp_path / "snap").exists()


def test_the_command_writes_a_folder_and_names_bad_arguments(annotated_db, tmp_path):
    out = io.StringIO()
    call_command("export_emotic", "--out", str(tmp_path / "cmd"), "--formats", "jsonl,coco", stdout=out, verbosity=0)
    assert sorted(p.name for p in (tmp_path / "cmd").iterdir()) == ["CREDITS.csv", "annotations.jsonl", "coco.json", "manifest.json"]
    with pytest.raises(CommandError, match="^--formats: unknown format 'xml'"):
        call_command("export_emotic", "--out", str(tmp_path / "x"), "--formats", "xml", verbosity=0)
    with pytest.raises(CommandError, match="^--ratios: expected three numbers"):
        call_command("export_emotic", "--out", str(tmp_path / "x"), "--ratios", "0.5,0.5", verbosity=0)
    with pytest.raises(CommandError, match="^--out: "):
        call_command("export_emotic", verbosity=0)


def test_the_command_stores_a_snapshot(annotated_db):
    call_command("export_emotic", "--store", "--name", "cli", "--formats", "npy", verbosity=0, stdout=io.StringIO())
    snapshot = DatasetSnapshot.objects.get(name="cli")
    assert snapshot.state == "complete"
    assert default_storage.exists(f"{snapshot.storage_key}/arrays/val_context_arr.npy")


def test_a_snapshot_is_stored_on_s3(s3_storage, annotated_db):
    """The fixture's image files went to the bucket; the snapshot is built from and into it."""
    client, bucket = s3_storage
    image_keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert set(Image.objects.values_list("storage_key", flat=True)) <= image_keys
    snapshot = build_snapshot(create_snapshot(name="on-s3", options=ExportOptions(formats=("mat", "jsonl"))).pk)
    assert snapshot.state == "complete"
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="snapshots/")["Contents"]}
    assert "snapshots/on-s3/Annotations/Annotations.mat" in keys
    assert "snapshots/on-s3/emotic/web/images/party.jpg" in keys
    assert "snapshots/on-s3.tar.gz" in keys
    manifest = json.loads(client.get_object(Bucket=bucket, Key="snapshots/on-s3/manifest.json")["Body"].read())
    assert manifest["name"] == "on-s3" and manifest["counts"]["train"]["people"] == 1


def test_an_image_missing_from_storage_is_skipped_and_reported(annotated_db, tmp_path):
    lost = Image.objects.get(filename="office.jpg")
    default_storage.delete(lost.storage_key)
    out = export_to_directory(tmp_path / "snap", ExportOptions(formats=("jsonl",)))
    manifest = read_manifest(out)
    assert [s["path"] for s in manifest["skipped_images"]] == ["web/images/office.jpg"]
    assert "missing from storage" in manifest["skipped_images"][0]["reason"]
    assert "office.jpg" not in by_filename(read_jsonl(out / "annotations.jsonl"))
    assert manifest["counts"].get("test", {"images": 0})["images"] == 0


def test_a_person_whose_annotators_agree_on_nothing_has_no_combined_categories(db, tmp_path):
    image = ImageFactory(file=True, split="val", filename="crowd.jpg")
    person = PersonFactory(image=image)
    for categories in (["Anger"], ["Peace"], ["Surprise"]):
        EmotionAnnotationFactory(person=person, categories=categories)
    out = export_to_directory(tmp_path / "snap", ExportOptions(formats=("mat", "npy"), label_rule="majority"))
    (record,) = by_filename(read_annotations_mat(out / "Annotations" / "Annotations.mat"))["crowd.jpg"].people
    assert record.combined_categories == () and len(record.answers) == 3
    # The baseline arrays keep only people with something to learn from.
    assert read_baseline_arrays(out / "arrays", "val").categories.shape == (0, 26)


def test_grayscale_cmyk_and_rotated_sources_become_upright_rgb_in_the_arrays(db, tmp_path, settings):
    """Images arrive through the real ingest, as they would from a crawl."""
    from PIL import Image as PILImage

    from catalog.ingest import ingest_image_bytes
    from tests.factories import SourceFactory

    settings.SCRAPER_MIN_IMAGE_SIDE = 16
    source = SourceFactory()
    worker = WorkerFactory()

    def encoded(picture: PILImage.Image, fmt: str, **params) -> bytes:
        buffer = io.BytesIO()
        picture.save(buffer, fmt, **params)
        return buffer.getvalue()

    settings.SCRAPER_NEAR_DUPLICATE_DISTANCE = 0  # plain-colour test pictures look alike to a perceptual hash
    grey_picture = PILImage.new("L", (64, 48), 200)
    grey_picture.paste(190, (0, 0, 8, 8))
    grey = encoded(grey_picture, "PNG")
    cmyk_picture = PILImage.new("CMYK", (64, 48), (0, 255, 255, 0))  # red
    cmyk_picture.paste((0, 250, 250, 0), (56, 40, 64, 48))
    cmyk = encoded(cmyk_picture, "JPEG", quality=95)
    # A landscape picture stored sideways: left half blue, right half green once upright.
    upright = PILImage.new("RGB", (80, 40), (0, 0, 255))
    upright.paste((0, 255, 0), (40, 0, 80, 40))
    sideways = upright.transpose(PILImage.Transpose.ROTATE_90)  # 40 x 80 on disk
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rotated = encoded(sideways, "JPEG", quality=95, exif=exif.tobytes())

    for name, data in (("grey.png", grey), ("cmyk.jpg", cmyk), ("rotated.jpg", rotated)):
        result = ingest_image_bytes(data, source=source, filename=name, original_database="web", folder="web/images")
        assert result.stored, result.reason
        result.image.split = "train"
        result.image.save(update_fields=["split"])
        person = PersonFactory(image=result.image, x1=0, y1=0, x2=result.image.width // 2, y2=result.image.height)
        EmotionAnnotationFactory(person=person, worker=worker)

    out = export_to_directory(tmp_path / "snap", ExportOptions(formats=("npy",)))
    train = read_baseline_arrays(out / "arrays", "train")
    rows = {row["Filename"]: i for i, row in enumerate(train.rows)}
    assert train.context[rows["grey.png"]].mean(axis=(0, 1)) == pytest.approx([200, 200, 200], abs=2)
    red = train.context[rows["cmyk.jpg"]].mean(axis=(0, 1))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    rotated_row = rows["rotated.jpg"]
    context, body = train.context[rotated_row], train.body[rotated_row]
    assert context[:, :100].mean(axis=(0, 1))[2] > 200  # blue on the left once upright
    assert context[:, 124:].mean(axis=(0, 1))[1] > 200  # green on the right
    assert body.mean(axis=(0, 1))[2] > 200  # the box is the left half: all blue


@pytest.mark.parametrize(
    ("folder", "filename", "field"),
    [
        ("../../../outside-the-snapshot", "escape.jpg", "folder"),  # ADE20K-style ../ in a stored row
        ("mscoco/images", "sub\\evil.jpg", "filename"),  # COCO-style backslash
        ("/etc", "passwd", "folder"),
        ("web/images", "a\x1b[2Jb.jpg", "filename"),  # a terminal escape (PostgreSQL cannot even hold NUL)
        ("web/images", "line\nbreak.jpg", "filename"),
    ],
)
def test_an_image_whose_names_cannot_be_placed_is_skipped_and_listed_and_the_export_goes_on(
    annotated_db, tmp_path, folder, filename, field
):
    """Rows stored before ingest checked names: the export leaves them out and lists them, never fails whole."""
    odd = Image.objects.get(filename="office.jpg")
    Image.objects.filter(pk=odd.pk).update(folder=folder, filename=filename)
    split_before = Image.objects.get(pk=odd.pk).split
    out = export_to_directory(tmp_path / "snap", ExportOptions())  # every format, images copied
    manifest = read_manifest(out)
    (skipped,) = manifest["skipped_images"]
    assert skipped["image_id"] == odd.pk and skipped["reason"].startswith(f"cannot be placed: {field}: ")
    assert "office.jpg" not in by_filename(read_jsonl(out / "annotations.jsonl"))
    assert {"beach.jpg", "party.jpg"} <= set(by_filename(read_jsonl(out / "annotations.jsonl")))
    assert not any((where / "outside-the-snapshot").exists() for where in (tmp_path, tmp_path.parent))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media", "snap"]
    assert Image.objects.get(pk=odd.pk).split == split_before  # left out before any split was drawn


def test_stored_names_with_an_unambiguous_spelling_are_normalised_in_the_snapshot(annotated_db, tmp_path):
    Image.objects.filter(filename="office.jpg").update(folder="./web//images/")
    out = export_to_directory(tmp_path / "snap", ExportOptions(formats=("mat",)))
    assert read_manifest(out)["skipped_images"] == []
    assert (out / "emotic" / "web" / "images" / "office.jpg").is_file()


def test_a_snapshot_credits_every_image_with_its_licence_and_the_manifest_counts_them(annotated_db, tmp_path):
    import csv

    from emotic.csv_cells import unescape_cell

    Image.objects.filter(filename="beach.jpg").update(
        license="CC BY 4.0", license_code="cc-by-4.0", license_url="https://creativecommons.org/licenses/by/4.0/",
        creator="=HYPERLINK(\"x\")", attribution="Photo by A. Person, CC BY 4.0", source_url="https://example.org/b.jpg")
    Image.objects.filter(filename="party.jpg").update(license="CC0", license_code="cc0-1.0")
    out = export_to_directory(tmp_path / "snap", ExportOptions(formats=("jsonl",)))  # whatever the formats
    with (out / "CREDITS.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_path = {row["path"]: row for row in rows}
    assert sorted(p.rsplit("/", 1)[1] for p in by_path) == ["beach.jpg", "office.jpg", "party.jpg"]
    beach = next(row for path, row in by_path.items() if path.endswith("beach.jpg"))
    assert (beach["license_code"], beach["license_url"], beach["attribution"], beach["source_url"]) == (
        "cc-by-4.0", "https://creativecommons.org/licenses/by/4.0/", "Photo by A. Person, CC BY 4.0",
        "https://example.org/b.jpg")
    assert beach["creator"].startswith("'=") and unescape_cell(beach["creator"]) == '=HYPERLINK("x")'  # never a formula
    manifest = read_manifest(out)
    assert manifest["licenses"] == {"cc-by-4.0": 1, "cc0-1.0": 1, "unknown": 1}
    assert "CREDITS.csv" in manifest["files"] and verify_manifest(out) == []


def test_other_apps_add_what_they_know_to_the_release_notes(annotated_db, tmp_path):
    from emotic_export.release_notes import register_release_notes, unregister_release_notes

    seen = []
    register_release_notes("tests", lambda image_ids: seen.append(sorted(image_ids)) or {"crowd": "lab volunteers"})
    register_release_notes("silent", lambda image_ids: None)
    try:
        out = export_to_directory(tmp_path / "snap", ExportOptions(formats=("jsonl",)))
    finally:
        unregister_release_notes("tests")
        unregister_release_notes("silent")
    exported = set(Image.objects.filter(filename__in=["beach.jpg", "party.jpg", "office.jpg"]).values_list("pk", flat=True))
    assert seen == [sorted(exported)]
    assert read_manifest(out)["collection"]["tests"] == {"crowd": "lab volunteers"} and "silent" not in read_manifest(out)["collection"]
