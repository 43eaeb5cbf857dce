"""CDS Hooks 2.0 service over :func:`cds_backpain.evaluate` (transport only, no clinical logic).

    >>> from cds_backpain.service import ServiceConfig, create_app
    >>> app = create_app(ServiceConfig(insecure_dev=True))   # any ASGI server

See docs/integration.md for endpoints, configuration, trust file and deployment.
"""

from .app import create_app
from .config import ConfigError, ServiceConfig, load_config

__all__ = ["ConfigError", "ServiceConfig", "create_app", "load_config"]
