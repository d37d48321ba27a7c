"""Tests of the Telegram adapter against a fake Bot API server."""
