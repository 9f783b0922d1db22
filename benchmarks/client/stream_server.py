"""A streaming server for the client benchmark: each request gets ``max_tokens`` events, one
every ``--interval-ms``, scheduled on absolute times; the server keeps the time it wrote each
event (``time.monotonic()``) and answers ``GET /times`` with them, by the request's prompt.

    python benchmarks/client/stream_server.py --port P --interval-ms 10

asyncio, one process: it is what the client is measured against, not what is measured.
"""

import argparse
import asyncio
import json
import time

TIMES: dict = {}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, interval_s: float) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, path = lines[0].split()[:2]
        length = next((int(h.split(":", 1)[1]) for h in lines if h.lower().startswith("content-length")), 0)
        body = await reader.readexactly(length) if length else b""
        if method == "GET":
            data = json.dumps(TIMES if path == "/times" else {"status": "ok"}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)
            await writer.drain()
            return
        request = json.loads(body)
        sent = TIMES.setdefault(request["prompt"], [])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        start = time.monotonic()
        for i in range(request["max_tokens"]):
            delay = start + (i + 1) * interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event = json.dumps({"choices": [{"text": f" t{i}"}]})
            writer.write(f"data: {event}\n\n".encode())
            sent.append(time.monotonic())
            await writer.drain()
        usage = {"prompt_tokens": 1, "completion_tokens": request["max_tokens"]}
        writer.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n".encode())
        await writer.drain()
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    args = parser.parse_args()
    server = await asyncio.start_server(lambda r, w: handle(r, w, args.interval_ms / 1000), "127.0.0.1",
                                        args.port, backlog=4096)
    print(f"listening on {args.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
