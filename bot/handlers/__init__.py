"""Handlers, one module per audience. Importing this package registers them all."""

from bot.handlers import common, coordinators, groups, members, officials

__all__ = ["common", "coordinators", "groups", "members", "officials"]
