"""Quality of the crowd's work: agreement figures, combined labels, worker trust and the admin review.

Entry points (see each module):

- ``services.recompute_quality()``: every figure, stored (the periodic task);
  ``services.refresh_after_answer(worker_id, person_id)``: the incremental update;
- ``trust.block_worker`` / ``trust.unblock_worker`` / ``trust.apply_automatic_blocks``;
- ``services.review_annotations(ids, status)``: accept or reject answers;
- ``selectors``: what the figures are computed from, and what the admin pages read;
- ``admin``: the review pages (registered by ``annotator.admin``).

The maths lives in ``emotic`` (Django-free); this package only feeds it rows.
"""
