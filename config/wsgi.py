import os

from django.core.wsgi import get_wsgi_application

from config.startup import load_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
load_settings()
application = get_wsgi_application()
