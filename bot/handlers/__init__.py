"""Handlers, one module per audience, and the explicit list of every module that declares
commands, buttons, event handlers, conversations or periodic jobs."""

from __future__ import annotations

from types import ModuleType

from bot.commands import Registry


def modules() -> tuple[ModuleType, ...]:
    """Every module with a `routes` registry, in the order their commands are listed."""
    from bot import delivery, scheduler
    from bot.handlers import common, coordinators, desk, groups, members, officials
    from bot.handlers import photos as photo_handlers
    from bot.services import (
        alert_compose,
        alerts,
        group_rights,
        join_find,
        joins,
        membership,
        photos,
        privacy,
        retention,
        rules,
    )

    return (
        common,
        members,
        coordinators,
        groups,
        officials,
        desk,
        photo_handlers,
        alert_compose,
        alerts,
        photos,
        join_find,
        joins,
        group_rights,
        membership,
        privacy,
        rules,
        retention,
        delivery,
        scheduler,
    )


def build_registry(*extra: Registry) -> Registry:
    """The registry of the whole bot: every module's `routes`, then `extra` (tests)."""
    registry = Registry()
    for module in modules():
        routes = getattr(module, "routes", None)
        if isinstance(routes, Registry):
            registry.include(routes)
    for more in extra:
        registry.include(more)
    return registry
