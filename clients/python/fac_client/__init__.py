"""fac-worker's Python client for Frappe apps (protocol v1, docs/protocol.md and
docs/python-client.md). Depends only on redis-py and msgpack.

Inside a Frappe request or job the module-level functions take the site, the user and
the Redis connection from frappe; elsewhere set FAC_REDIS_URL or use a Client(url=...).

    import fac_client
    job_id = fac_client.enqueue("list_documents", {"doctype": "Customer"})
    doc = fac_client.call("get_document", {"doctype": "User", "name": "Administrator"})
    fac_client.status(job_id)["state"]      # queued, running, finished, ...
    fac_client.cancel(job_id)
"""

import os

from .client import Client, FacError, FacNotReplicated, FacTimeout, frappe_module

__all__ = ["Client", "FacError", "FacNotReplicated", "FacTimeout", "enqueue", "call", "status",
           "cancel"]


def _client():
    """A client on Frappe's queue Redis inside Frappe (a new one per call: the
    connection is the site's), else on FAC_REDIS_URL or the bench default, through
    the sentinels in FAC_REDIS_SENTINELS ("host:port,...") and FAC_REDIS_MASTER if set."""
    if frappe_module() is not None:
        return Client()
    sentinels = [s for s in os.environ.get("FAC_REDIS_SENTINELS", "").split(",") if s.strip()]
    return Client(url=os.environ.get("FAC_REDIS_URL"), sentinels=sentinels or None,
                  master=os.environ.get("FAC_REDIS_MASTER"))


def enqueue(tool, args=None, **kw):
    """Client.enqueue on the default client: returns the job id (None if deduplicated)."""
    return _client().enqueue(tool, args, **kw)


def call(tool, args=None, timeout=30, **kw):
    """Client.call on the default client: the tool's result, or FacError/FacTimeout."""
    return _client().call(tool, args, timeout, **kw)


def status(job_id):
    """Client.status on the default client: {"state": ..., ...}."""
    return _client().status(job_id)


def cancel(job_id):
    """Client.cancel on the default client: what the cancel did."""
    return _client().cancel(job_id)
