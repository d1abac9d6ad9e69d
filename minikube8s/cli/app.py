"""Wiring the CLI verbs into the ``minikube8s`` typer app, and the top-level error handler.

``register(app)`` (called once from minikube8s/__main__.py) adds every verb from the verb
modules (get.py, write.py, apply.py, generators.py, info.py, ...) and swaps in ``CLIGroup``,
whose ``main`` is the one place where failures become one line on stderr and exit code 1:
usage errors in kubectl's wording (``error: unknown flag ...``), anything a verb raises through
errors.describe, and never a Python traceback. ``minikube8s --role ...`` with no sub-command
still starts a node: the group only changes how errors are printed.

``execute`` runs one verb's coroutine with a Session (session.py) on the target that
config.py resolves from the common options (``-s/--server``, ``-n``, ``--kubeconfig``) and
kubectl's global credential flags (``--token``, ``--certificate-authority``,
``--insecure-skip-tls-verify``). Those three are added to every verb here, once, by
``_with_auth_flags`` rather than in each verb's signature: the verbs never read them, only
``Common.target`` does.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from ..client import errors as client_errors
from . import config, errors, printers
from .kubeconfig import KubeconfigError
from .session import Session

try:  # typer >= 0.20 vendors click
    from typer import _click as click  # type: ignore[attr-defined,unused-ignore]
    from typer._click.globals import (  # type: ignore[import-not-found,unused-ignore]
        get_current_context,
    )
except ImportError:  # pragma: no cover - older typer
    import click  # type: ignore[no-redef,unused-ignore]
    from click import get_current_context  # type: ignore[no-redef,unused-ignore]

# ----------------------------------------------------------------------------- common options

ServerOpt = Annotated[str | None, typer.Option(
    "-s", "--server", help="The address of the API server (http://HOST:PORT). "
    "Default: $MINIKUBE8S_SERVER, then the kubeconfig, then http://127.0.0.1:8080.",
    show_default=False)]
NamespaceOpt = Annotated[str | None, typer.Option(
    "-n", "--namespace", help="The namespace (default: the kubeconfig's, or 'default').",
    show_default=False)]
KubeconfigOpt = Annotated[str | None, typer.Option(
    "--kubeconfig", help="Path to a kubeconfig file (default: $KUBECONFIG or ~/.kube/config).",
    show_default=False)]
OutputOpt = Annotated[str, typer.Option(
    "-o", "--output", help="Output format: wide, yaml, json, name, jsonpath=TEMPLATE.",
    show_default=False)]
SelectorOpt = Annotated[str, typer.Option(
    "-l", "--selector", help="Label selector (e.g. run-container=nginx, 'app in (a,b)').",
    show_default=False)]
FilenameOpt = Annotated[list[str] | None, typer.Option(
    "-f", "--filename", help="A file, a directory of .yaml/.yml/.json files, or - for stdin.",
    show_default=False)]


TokenOpt = Annotated[str | None, typer.Option(
    "--token", help="Bearer token for authentication to the API server.",
    show_default=False)]
CertificateAuthorityOpt = Annotated[str | None, typer.Option(
    "--certificate-authority", help="Path to a cert file for the certificate authority.",
    show_default=False)]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure-skip-tls-verify", help="Do not check the server's certificate (insecure).",
    show_default=False)]


@dataclass(frozen=True)
class AuthFlags:
    token: str | None = None
    certificate_authority: str | None = None
    insecure_skip_tls_verify: bool = False


_AUTH: contextvars.ContextVar[AuthFlags | None] = contextvars.ContextVar("cli_auth",
                                                                        default=None)
_AUTH_PARAMS = {
    "auth_token": (TokenOpt, None),
    "auth_certificate_authority": (CertificateAuthorityOpt, None),
    "auth_insecure_skip_tls_verify": (InsecureOpt, False),
}


def _with_auth_flags(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with the three credential options appended to its signature (typer reads
    ``__signature__``); their values go to ``_AUTH`` for ``Common.target``."""
    sig = inspect.signature(fn, eval_str=True)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                               annotation=ann) for name, (ann, default) in _AUTH_PARAMS.items()]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = AuthFlags(kwargs.pop("auth_token", None),
                          kwargs.pop("auth_certificate_authority", None),
                          bool(kwargs.pop("auth_insecure_skip_tls_verify", False)))
        reset = _AUTH.set(flags)
        try:
            return fn(*args, **kwargs)
        finally:
            _AUTH.reset(reset)

    params = [*sig.parameters.values(), *extra]
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


class Common:
    """The common options of one invocation, passed to ``execute``."""

    def __init__(self, server: str | None = None, namespace: str | None = None,
                 kubeconfig: str | None = None) -> None:
        self.server = server
        self.namespace = namespace
        self.kubeconfig = kubeconfig

    def target(self) -> config.Target:
        auth = _AUTH.get() or AuthFlags()
        return config.resolve(server=self.server or _root_server(), namespace=self.namespace,
                              kubeconfig_path=self.kubeconfig,
                              token=auth.token or _root_token(),
                              certificate_authority=auth.certificate_authority,
                              insecure_skip_tls_verify=auth.insecure_skip_tls_verify)


def _root_server() -> str | None:
    """``minikube8s -s URL get pods``: the root command's --server, as kubectl's global flag."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return None
    value = ctx.find_root().params.get("server")
    return str(value) if value else None


def _root_token() -> str | None:
    """``minikube8s --token T get pods``. Only when typed: the root's --token is also a node's
    join token, and $MINIKUBE8S_TOKEN on a node must not become every CLI call's bearer."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return None
    root = ctx.find_root()
    source = root.get_parameter_source("token")
    if source is None or source.name != "COMMANDLINE":
        return None
    value = root.params.get("token")
    return str(value) if value else None


def _fail(message: str, code: int = 1) -> NoReturn:
    stream = sys.stderr
    stream.write(printers.paint_error(message, stream) + "\n")
    stream.flush()
    raise typer.Exit(code)


def execute(common: Common, verb: Callable[[Session], Awaitable[int | None]]) -> NoReturn:
    """Run ``verb`` with a Session; any failure becomes one line and exit code 1."""
    try:
        target = common.target()
    except KubeconfigError as e:
        _fail(f"error: {e}")

    async def main() -> int:
        session = Session.open(target)
        try:
            return int(await verb(session) or 0)
        finally:
            await session.close()

    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except (errors.CLIError, client_errors.ClientError) as e:
        _fail(errors.describe(e, server=target.server))
    except BrokenPipeError:
        raise typer.Exit(1) from None
    except Exception as e:  # the top-level net: one line, never a traceback
        _fail(errors.describe(e, server=target.server))
    raise typer.Exit(code)


# ----------------------------------------------------------------------------- the group


class CLIGroup(TyperGroup):
    """The root command group: kubectl-style one-line errors for everything."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, windows_expand_args=windows_expand_args,
                              **extra)
        except click.exceptions.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "minikube8s"
            _exit_now(f"error: {_usage_text(e)}\nSee '{where} --help' for usage.", 1)
        except click.exceptions.ClickException as e:
            _exit_now(f"error: {e.format_message()}", e.exit_code or 1)
        except (typer.Abort, KeyboardInterrupt, EOFError):
            _exit_now("", 130)
        except Exception as e:  # raised outside execute() (flag checks, manifests): one line
            _exit_now(errors.describe(e), 1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _usage_text(e: Any) -> str:
    text = str(e.format_message())
    if text.startswith("No such option: "):
        return "unknown flag: " + text[len("No such option: "):].split(" ")[0]
    return text


def _exit_now(message: str, code: int) -> NoReturn:
    if message:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    sys.exit(code)


def register(app: typer.Typer) -> None:
    """Add every CLI verb to ``app`` (the node's typer app) and install CLIGroup."""
    from . import apply, describe, generators, get, info, write

    app.info.cls = CLIGroup
    before = len(app.registered_commands)
    for module in (get, describe, write, apply, generators, info):
        module.register(app)
    for command in app.registered_commands[before:]:
        if command.callback is not None:
            command.callback = _with_auth_flags(command.callback)
