"""How the CLI words a failure: one line, as kubectl writes it, and exit code 1.

``CLIError`` is for problems found on this side (bad flags, unreadable manifests, unknown
resource types) and prints as ``error: ...``. Server answers arrive as the REST client's typed
errors (minikube8s/client/errors.py) and print as ``Error from server (Reason): message``
(cmdutil.StandardErrorMessage). An unreachable server names the URL and says how to start
one; a certificate that does not verify prints as kubectl's ``Unable to connect to the
server: tls: failed to verify certificate: x509: ...``, a 401 as ``error: You must be logged
in to the server (Unauthorized)``. app.py's top-level handler calls ``describe`` for anything
a verb raises, so no Python traceback reaches the user.
"""

from __future__ import annotations

import errno

from ..client import errors as client_errors


class CLIError(Exception):
    """A client-side error; ``str()`` is the message without the ``error:`` prefix."""


class Interrupted(Exception):
    """Ctrl-C: exit 130 quietly."""


START_HINT = ("Start one with 'minikube8s --role ai' (or 'make run'), or point -s/--server, "
              "$MINIKUBE8S_SERVER or a kubeconfig at a running one.")


def unreachable(server: str, detail: str = "") -> str:
    if detail:
        return f"Unable to connect to the server {server}: {detail}. {START_HINT}"
    return (f"The connection to the server {server} was refused - is a minikube8s API server "
            f"running there? {START_HINT}")


def _refused(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, ConnectionRefusedError) or (
                isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED):
            return True
        if "Connect call failed" in str(exc):
            return True
        nxt = getattr(exc, "os_error", None) or exc.__cause__
        exc = nxt if nxt is not exc else None
    return False


def describe(exc: BaseException, *, server: str = "") -> str:
    """The one line printed for ``exc`` (no trailing newline)."""
    if isinstance(exc, CLIError):
        return f"error: {exc}"
    if isinstance(exc, client_errors.TLSVerifyError):
        return f"Unable to connect to the server: {exc.message}"
    if isinstance(exc, client_errors.Unavailable):
        cause = exc.__cause__
        if _refused(cause):
            return unreachable(server)
        return unreachable(server, str(cause or exc) or type(cause or exc).__name__)
    if isinstance(exc, client_errors.Unauthorized):
        return f"error: You must be logged in to the server ({exc.message})"
    if isinstance(exc, client_errors.ClientError):
        reason = exc.status.get("reason") or exc.reason
        message = exc.message.replace("\n", " ")
        if reason:
            return f"Error from server ({reason}): {message}"
        return f"Error from server: {message}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"error: {type(exc).__name__}: {text}"
