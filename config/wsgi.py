import os

from django.core.wsgi import get_wsgi_application

from config.startup import load_settings_for_serving

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
load_settings_for_serving()  # refuses the public development key outside local development
application = get_wsgi_application()
