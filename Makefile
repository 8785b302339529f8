# Two commands for a fresh machine:
#   make demo   set up and serve the demo on embedded defaults (SQLite, local disk, no servers)
#   make test   set up and run every test (needs PostgreSQL and Redis on 127.0.0.1)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1:8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export DJANGO_SETTINGS_MODULE ?= config.settings.base

.PHONY: demo test serve migrate chromium caddy check-services lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.web-installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-training.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.web-installed

demo: $(VENV)/.web-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py rundemo $(HOST)

migrate: $(VENV)/.web-installed
	$(PY) manage.py migrate --noinput

serve: $(VENV)/.web-installed
	$(PY) manage.py rundemo $(HOST)

# Debian's Chromium drives the browser tests (Playwright's own download does not work offline).
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi

# Debian's Caddy: tests/stack/ runs it in front of gunicorn as the proxy image does (deploy/proxy/Dockerfile).
# The package would start a Caddy on port 80 where systemd runs; the tests start their own, so it is stopped.
caddy:
	@if [ ! -x /usr/bin/caddy ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq caddy; \
		if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now caddy.service >/dev/null 2>&1 || true; fi; \
	fi

check-services: | $(PY)
	@$(PY) -c "import socket,sys; bad=[n for n,p in (('PostgreSQL',5432),('Redis',6379)) if socket.socket().connect_ex(('127.0.0.1',p))]; bad and sys.exit('missing services on 127.0.0.1: '+', '.join(bad))"

# Mistakes a reader should not have to find: undefined or unused names, syntax errors.
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .

test: $(VENV)/.dev-installed chromium caddy check-services lint
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf var/ .pytest_cache
