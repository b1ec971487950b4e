"""Portway: preview URLs, exposed ports and an HTTP + WebSocket gateway for sandboxes.

Services that run inside a sandbox are published at preview URLs of the shape
``{scheme}://{port}-{sandbox_id}-{token}.{hostname}/``, and the gateway proxies HTTP and
WebSocket traffic from those URLs to the sandbox's ports::

    import asyncio
    import portway

    async def main() -> None:
        pw = portway.Portway(domains=["localhost"])
        async with await pw.serve("127.0.0.1:0") as gateway:
            sandbox = pw.sandbox("my-box")
            exposed = await sandbox.expose_port(8080, hostname=f"localhost:{gateway.port}")
            print(exposed.url)

    asyncio.run(main())

The pure URL functions are synchronous; everything that does I/O is awaitable and runs on
Portway's own Rust runtime. Every error is a ``PortwayError`` with a stable ``code``, one
subclass per code (``InvalidPortError`` for ``"INVALID_PORT"``, ...).
"""

import atexit
import time

from portway._native import (
    CustomDomainRequiredError,
    DomainNotConfiguredError,
    EventStream,
    ExposedPort,
    ExposedPortInfo,
    GatewayConfig,
    GatewayError,
    GatewayHandle,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidHostnameError,
    InvalidPortError,
    InvalidPortNameError,
    InvalidSandboxIdError,
    InvalidTokenFormatError,
    InvalidUpstreamHostError,
    LifecycleEvent,
    PortActivity,
    PortWaitTimeoutError,
    Portway,
    PortwayError,
    PreviewLabelTooLongError,
    Resolution,
    Route,
    Sandbox,
    SandboxActivity,
    SandboxInfo,
    SandboxNotFoundError,
    StoreError,
    TokenInUseError,
    UpstreamForbiddenError,
    WakeRequest,
    WebSocket,
    WsClosedError,
    WsConnectFailedError,
    WsError,
    __version__,
    build_preview_url,
    generate_token,
    parse_preview_host,
    validate_port,
    validate_sandbox_id,
    validate_token,
)


@atexit.register
def _let_runtime_threads_finish() -> None:
    """Gives Portway's runtime threads the GIL once more before the interpreter finalizes.

    An awaitable completes on a runtime thread by scheduling its result on the event loop
    (``call_soon_threadsafe``), which releases and retakes the GIL around its write to the
    loop's self-pipe. The loop may run the result, finish ``asyncio.run`` and start exiting
    in between; a thread that then asks for the GIL during finalization is ended with
    ``pthread_exit``, whose forced unwind through Rust frames crashes the process (seen as
    a segmentation fault in about one exit in six right after a Redis-store write). Sleeping
    here, with the GIL released, lets such a thread finish its write and let go first.
    """
    time.sleep(0.02)


__all__ = [
    "CustomDomainRequiredError",
    "DomainNotConfiguredError",
    "EventStream",
    "ExposedPort",
    "ExposedPortInfo",
    "GatewayConfig",
    "GatewayError",
    "GatewayHandle",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidHostnameError",
    "InvalidPortError",
    "InvalidPortNameError",
    "InvalidSandboxIdError",
    "InvalidTokenFormatError",
    "InvalidUpstreamHostError",
    "LifecycleEvent",
    "PortActivity",
    "PortWaitTimeoutError",
    "Portway",
    "PortwayError",
    "PreviewLabelTooLongError",
    "Resolution",
    "Route",
    "Sandbox",
    "SandboxActivity",
    "SandboxInfo",
    "SandboxNotFoundError",
    "StoreError",
    "TokenInUseError",
    "UpstreamForbiddenError",
    "WakeRequest",
    "WebSocket",
    "WsClosedError",
    "WsConnectFailedError",
    "WsError",
    "__version__",
    "build_preview_url",
    "generate_token",
    "parse_preview_host",
    "validate_port",
    "validate_sandbox_id",
    "validate_token",
]
