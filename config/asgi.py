import os

from django.core.asgi import get_asgi_application

from config.startup import load_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
load_settings()
application = get_asgi_application()
