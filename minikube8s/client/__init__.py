"""The async REST client and its client-go analogues: reflector, informer, workqueue.

Every component (scheduler, controllers, kubelet, proxy, CLI) reaches the cluster only through
this package. The usual wiring::

    client = Client(url)
    factory = InformerFactory(client)
    pods = factory.informer(PODS)                 # shared: one watch per kind per process
    queue = WorkQueue("replication")
    pods.add_handler(on_add=lambda o: queue.add(key_of(o)), ...)   # handlers only enqueue
    ctrl = Controller("replication", queue, reconcile, workers=4)  # reconcile reads the cache
    await factory.start(supervisor); await factory.wait_synced(); ctrl.start(supervisor)

rest.py (Client, typed errors in errors.py), reflector.py, informer.py, workqueue.py,
controller.py (the pattern, documented), events.py (EventRecorder), clock.py (fake time).
"""

from .clock import Backoff, Clock, FakeClock, RealClock
from .controller import Controller
from .errors import (
    AlreadyExists,
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TLSVerifyError,
    Unauthorized,
    Unavailable,
)
from .events import EventRecorder
from .informer import Informer, InformerFactory, key_of, split_key
from .reflector import Reflector
from .rest import Client, Object, WatchEvent, resource, resource_path
from .workqueue import ShutDown, WorkQueue

__all__ = [
    "AlreadyExists", "Backoff", "BadRequest", "Client", "ClientError", "Clock", "Conflict",
    "Controller", "EventRecorder", "FakeClock", "Forbidden", "Gone", "Informer",
    "InformerFactory", "Invalid", "NotFound", "Object", "RealClock", "Reflector",
    "ServerError", "ShutDown", "TLSVerifyError", "Unauthorized", "Unavailable", "WatchEvent",
    "WorkQueue", "key_of", "resource", "resource_path", "split_key",
]
