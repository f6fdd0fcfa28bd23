"""Settings modules: `development` (manage.py default), `test` (pytest), `production` (wsgi/asgi default)."""
