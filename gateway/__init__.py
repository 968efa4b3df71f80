"""The HTTP gateway: a WSGI app (Falcon) served by gunicorn; calls services over Nameko RPC."""
