"""Wenzhen's services, one Nameko service per package (``services/<name>/service.py``)."""
import wenzhen  # noqa: F401 - first, for its warning filter


def service_class(name: str, part: tuple[str, str] | None = None):
    """The one service class defined in ``services.<name>.service``; with ``part`` (e.g. ``("only", "desk")``), the
    deployable of that module's ``DEPLOYABLES`` (a capability's work run as a process of its own), which the count of
    service classes leaves out."""
    import importlib

    from wenzhen.service import ServiceBase

    module = importlib.import_module(f"services.{name}.service")
    deployables = getattr(module, "DEPLOYABLES", {})
    if part is not None:
        if part not in deployables:
            known = ", ".join(f"--{how} {what}" for how, what in deployables) or "none"
            raise LookupError(f"{module.__name__} has no deployable --{part[0]} {part[1]} (it has: {known})")
        return deployables[part]
    classes = [obj for obj in vars(module).values()
               if isinstance(obj, type) and issubclass(obj, ServiceBase) and obj.__module__ == module.__name__
               and obj not in deployables.values()]
    if len(classes) != 1:
        raise LookupError(f"{module.__name__} must define exactly one service class")
    return classes[0]
