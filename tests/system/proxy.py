#!/usr/bin/env python3
"""A TCP forwarder in front of the dev server that can be switched off and on.

The dev server keeps its tokens in memory, so "the server is unreachable, then comes back" cannot be
a restart. While the file DOWN exists the forwarder closes its listening socket and every open
connection, so clients get a real "connection refused"; when DOWN is removed it listens again.

usage: proxy.py LISTEN_PORT TARGET_PORT DOWN_FILE READY_FILE
LISTEN_PORT 0 picks a free port, kept across off/on; READY_FILE receives the port once listening.
"""
import asyncio
import os
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main():
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    down_file, ready_file = sys.argv[3], sys.argv[4]
    writers = set()

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        pair = (client_w, server_w)
        writers.add(pair)
        try:
            await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        finally:
            writers.discard(pair)

    server = None
    while True:
        down = os.path.exists(down_file)
        if down and server is not None:
            server.close()
            for pair in list(writers):
                for w in pair:
                    w.close()
            server = None
        elif not down and server is None:
            server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
            listen_port = server.sockets[0].getsockname()[1]
            with open(ready_file + ".tmp", "w") as f:
                f.write(f"{listen_port}\n")
            os.replace(ready_file + ".tmp", ready_file)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main())
