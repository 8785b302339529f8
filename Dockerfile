# The app's image: the web app (gunicorn), its Celery workers and beat.
# The trainer's image is the same with torch: docker-compose builds it with REQUIREMENTS=requirements-training.txt.
FROM python:3.11-slim-bookworm

ARG REQUIREMENTS=requirements.txt
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app
COPY requirements.txt requirements-training.txt ./
RUN pip install -r "$REQUIREMENTS"
# .dockerignore keeps .env, var/, .git, caches and tests out of this copy.
COPY . .
# collectstatic needs a key (and a proxy address) to import the production settings; the real ones come
# from the environment at run time.
RUN SECRET_KEY=build-only-$(head -c 48 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9') TRUSTED_PROXIES=127.0.0.1 \
    python manage.py collectstatic --noinput
# app owns what it writes: var/ and the static files (compose's "static" service refreshes its volume from them).
RUN useradd --create-home app && mkdir -p /app/var && chown -R app /app/var /app/staticfiles
USER app
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi:application"]
