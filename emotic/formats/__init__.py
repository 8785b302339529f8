"""The EMOTIC file formats, written from and read into ``emotic.records``.

- ``mat``: ``Annotations.mat``, the official annotation file
- ``arrays``: the npy arrays and CSV of the common PyTorch baseline
- ``jsonl``: one person per line, lossless
- ``coco``: COCO-style JSON for detection tools
- ``manifest``: counts, taxonomy, agreement and a sha256 per file

Every writer is atomic (temporary file beside the target, then ``os.replace``)
and every reader raises ``FormatError`` naming the file, the place and the reason.
"""

from emotic.formats.common import FormatError

__all__ = ["FormatError"]
