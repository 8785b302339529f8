"""Signals the annotator's services send, for other parts (quality) to follow without being called."""

from django.dispatch import Signal

# A worker skipped or reported a task (no answer stored): ``worker_id``, ``assignment_id``, ``state``.
# Sent inside the closing transaction; receivers defer their work to its commit.
task_given_back = Signal()

# A dataset's own answers were stored in bulk (no post_save per answer): ``worker_ids``, ``person_ids``.
# Sent inside the storing transaction, once per batch; quality asks for one refresh of them all.
original_answers_stored = Signal()
