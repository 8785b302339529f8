"""S3 storage whose URLs for browsers are signed for the public endpoint, while the app itself uses the internal one.

In the stack, the app reaches the object store by its name on the internal
network (``STORAGE_ENDPOINT_URL``, e.g. ``http://minio:9000``), which no
browser can resolve. Workers' images and snapshot downloads are redirects to
signed URLs, so those must name the store as browsers reach it, through the
reverse proxy (``STORAGE_PUBLIC_ENDPOINT_URL``, e.g.
``https://storage.emotic.example.org``). A signature (AWS Signature V4)
covers the host, so the URL cannot be rewritten after signing: it is signed
by a second client configured with the public endpoint (it only signs and
never connects). Every upload, read and listing keeps using the internal
endpoint. The proxy must pass the Host header through unchanged, as Caddy
does, since the store checks the signature against the host it receives.
"""

from __future__ import annotations

import threading

import botocore
from botocore.config import Config
from storages.backends.s3 import S3Storage as BaseS3Storage
from storages.utils import clean_name


class S3Storage(BaseS3Storage):
    def get_default_settings(self) -> dict:
        return {**super().get_default_settings(), "public_endpoint_url": None}

    def __init__(self, **settings):
        super().__init__(**settings)
        self._public_clients_lock = threading.Lock()
        self._public_clients: dict[bool, object] = {}

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_public_clients", None)
        state.pop("_public_clients_lock", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._public_clients_lock = threading.Lock()
        self._public_clients = {}

    def _public_client(self, signed: bool):
        """A boto3 client for the public endpoint (boto3 clients, unlike resources, are safe across threads)."""
        with self._public_clients_lock:
            client = self._public_clients.get(signed)
            if client is None:
                config = self.client_config if signed else self.client_config.merge(Config(signature_version=botocore.UNSIGNED))
                client = self._create_session().client(
                    "s3", region_name=self.region_name, use_ssl=self.use_ssl, endpoint_url=self.public_endpoint_url,
                    config=config, verify=self.verify,
                )
                self._public_clients[signed] = client
            return client

    def url(self, name, parameters=None, expire=None, http_method=None):
        if not self.public_endpoint_url or self.custom_domain:
            return super().url(name, parameters=parameters, expire=expire, http_method=http_method)
        params = {**(parameters or {}), "Bucket": self.bucket_name, "Key": self._normalize_name(clean_name(name))}
        return self._public_client(signed=self.querystring_auth).generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expire if expire is not None else self.querystring_expire,
            HttpMethod=http_method,
        )
