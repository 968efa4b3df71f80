"""The gateway's one route registry."""
from gateway.api import Api

api = Api()
