"""A control plane in Python on the shared Redis store: exposes ports of one sandbox (the
shared ones another control plane exposes at the same time, and its own), and prints
{port: url} as JSON. Run by scripts/dist-check.sh beside writer.mjs."""

import asyncio
import json
import os

import portway


async def main() -> None:
    pw = portway.Portway(domains=["localhost"], store=os.environ["REDIS_URL"])
    sandbox = pw.sandbox("shared", upstream_host="127.0.0.1")
    own = int(os.environ["OWN_BASE"])
    urls = {}
    for i in range(50):
        for port in (20000 + i, own + i):
            urls[port] = (await sandbox.expose_port(port, hostname="localhost")).url
    print(json.dumps(urls))


asyncio.run(main())
