"""Signals the annotator's services send, for other parts (quality) to follow without being called."""

from django.dispatch import Signal

# A worker skipped or reported a task (no answer stored): ``worker_id``, ``assignment_id``, ``state``.
# Sent inside the closing transaction; receivers defer their work to its commit.
task_given_back = Signal()
