"""The Synapse of tests/matrix, shared (one homeserver per test session)."""

from tests.matrix.conftest import make_user, synapse  # noqa: F401
