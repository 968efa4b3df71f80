"""Wenzhen's services, one Nameko service per package (``services/<name>/service.py``)."""
import wenzhen  # noqa: F401 - first, for its warning filter


def service_class(name: str):
    """The one service class defined in ``services.<name>.service``."""
    import importlib

    from wenzhen.service import ServiceBase

    module = importlib.import_module(f"services.{name}.service")
    classes = [obj for obj in vars(module).values()
               if isinstance(obj, type) and issubclass(obj, ServiceBase) and obj.__module__ == module.__name__]
    if len(classes) != 1:
        raise LookupError(f"{module.__name__} must define exactly one service class")
    return classes[0]
