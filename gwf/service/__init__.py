"""The HTTP service: a FastAPI app over the planner, the twin and the dispatcher, with
background jobs, live events and the web dashboard."""
from gwf.service.app import create_app
from gwf.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
