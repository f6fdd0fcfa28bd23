"""Staff screens of the applications app; every change goes through services."""

from . import applications, customers, partners, reviews  # noqa: F401  (registers the admins)
