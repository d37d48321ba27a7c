"""Handlers, one module per audience. Importing this package registers them all."""

from bot.handlers import common  # noqa: F401
from bot.handlers import officials  # noqa: F401
from bot.handlers import coordinators, groups, members  # noqa: F401
