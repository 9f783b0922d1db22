"""A small OpenAI-compatible streaming server, for the tests that must run where llama-server
is not built (CI). A real process with real HTTP, real allocations and real signals; what it
does wrong is chosen by its flags:

    python toy_server.py --port P [--start-s S] [--kv-mb N] [--token-ms T] [--slots K]
                         [--die-after N] [--bad-request-every N]

--start-s     /health answers 503 for S seconds, then 200 (a large S: hangs before ready)
--kv-mb       allocates N MiB before listening, as a server reserves its KV cache (a real
              MemoryError under a memory limit)
--token-ms    the time to produce one token; --slots requests are served at once, others wait
--die-after   aborts itself (SIGABRT) when request N+1 arrives: a crash under load
--bad-request-every  answers every N-th request with HTTP 400
--ctx         a request whose prompt and max_tokens exceed N tokens is refused (HTTP 400)
--no-tokenizer  no /tokenize or /detokenize (404), as a server without them
--no-detokenize  /tokenize but no /detokenize (404)
--tgi-tokenizer  TGI's shape: /tokenize takes "inputs" and answers a list of {"id", "text"}; no /detokenize
--model       serves only this model: a request naming another is refused (HTTP 404, vLLM's words);
              /v1/models names it, as vLLM's does
--tokenizer-dies-after  aborts itself (SIGABRT) when /tokenize is called the N+1-th time
--reasoning-events  a chat answer streams N events of reasoning (``delta.reasoning_content``, as
              vLLM's reasoning parsers, SGLang and llama.cpp send it) before its content
--fails-with-log  prints the lines of a file (a real server's log) and exits 1 before it listens
--no-done     ends each stream without "data: [DONE]", as TGI before 2.2 did (its last token's
              event says finish_reason "length", as every stream's does)
--cut-stream  ends each stream after half its tokens, without a finish_reason or [DONE] (a
              connection a proxy cut)
Its tokenizer is one token per character (token id = code point); it streams exactly
max_tokens tokens and, when asked (stream_options.include_usage), a last event with usage.
An unknown flag is refused by argparse (exit code 2), as a server refuses a bad flag.
"""

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--start-s", type=float, default=0.0)
    parser.add_argument("--kv-mb", type=int, default=0)
    parser.add_argument("--token-ms", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--die-after", type=int, default=0)
    parser.add_argument("--bad-request-every", type=int, default=0)
    parser.add_argument("--ctx", type=int, default=0)
    parser.add_argument("--no-tokenizer", action="store_true")
    parser.add_argument("--no-detokenize", action="store_true")
    parser.add_argument("--tgi-tokenizer", action="store_true")
    parser.add_argument("--model", default=None)
    parser.add_argument("--tokenizer-dies-after", type=int, default=0)
    parser.add_argument("--fails-with-log", default=None)
    parser.add_argument("--reasoning-events", type=int, default=0)
    parser.add_argument("--no-done", action="store_true")
    parser.add_argument("--cut-stream", action="store_true")
    args = parser.parse_args()
    if args.fails_with_log:
        with open(args.fails_with_log) as log:
            print(log.read(), end="", flush=True)
        raise SystemExit(1)
    kv = bytearray(args.kv_mb * 2**20)
    started = time.monotonic()
    slots = threading.Semaphore(args.slots)
    count = {"n": 0, "tokenize": 0}
    lock = threading.Lock()
    print(f"toy server: {args.slots} slots, {len(kv) >> 20} MiB reserved, port {args.port}", flush=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send_json(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path in ("/health", "/v1/models"):
                ready = time.monotonic() - started >= args.start_s
                answer = {"object": "list", "data": [{"id": args.model or "toy", "object": "model"}]} \
                    if self.path == "/v1/models" and ready else {"status": "ok" if ready else "loading"}
                self.send_json(200 if ready else 503, answer)
            else:
                self.send_json(404, {"error": "no such path"})

        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if args.model is not None and request.get("model", args.model) != args.model:
                self.send_json(404, {"error": {"message": f"The model `{request['model']}` does not exist."}})
                return
            if self.path == "/tokenize":
                with lock:
                    count["tokenize"] += 1
                if args.tokenizer_dies_after and count["tokenize"] > args.tokenizer_dies_after:
                    print(f"toy server: aborting at /tokenize call {count['tokenize']}", flush=True)
                    os.abort()
            if self.path in ("/tokenize", "/detokenize"):
                if args.no_tokenizer or (self.path == "/detokenize" and (args.no_detokenize or args.tgi_tokenizer)):
                    self.send_json(404, {"error": "no such path"})
                elif args.tgi_tokenizer:
                    text = request["inputs"]
                    self.send_json(200, [{"id": ord(c), "text": c, "start": i, "stop": i + 1}
                                         for i, c in enumerate(text)])
                elif self.path == "/tokenize":
                    self.send_json(200, {"tokens": [ord(c) for c in request["content"]]})
                else:
                    self.send_json(200, {"content": "".join(map(chr, request["tokens"]))})
                return
            with lock:
                count["n"] += 1
                n = count["n"]
            if args.die_after and n > args.die_after:
                print(f"toy server: aborting at request {n}", flush=True)
                os.abort()
            if args.bad_request_every and n % args.bad_request_every == 0:
                self.send_json(400, {"error": {"message": f"request {n} refused"}})
                return
            chat = self.path.endswith("/chat/completions")
            prompt = request["messages"][-1]["content"] if chat else request["prompt"]
            max_tokens = request.get("max_tokens", 16)
            if args.ctx and len(prompt) + max_tokens > args.ctx:
                self.send_json(400, {"error": {"message": "the request exceeds the available context size"}})
                return
            with slots:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                thought = args.reasoning_events if chat else 0
                for i in range(thought + max_tokens):
                    if args.cut_stream and i == (thought + max_tokens) // 2:
                        self.close_connection = True
                        return
                    time.sleep(args.token_ms / 1000)
                    delta = {"reasoning_content": f"r{i} "} if i < thought else {"content": f"t{i} "}
                    choice = {"delta": delta} if chat else {"text": f"t{i} "}
                    choice["finish_reason"] = "length" if i == thought + max_tokens - 1 else None
                    self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
                    self.wfile.flush()
                if (request.get("stream_options") or {}).get("include_usage"):
                    usage = {"prompt_tokens": len(prompt), "completion_tokens": thought + max_tokens}
                    self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
                if not args.no_done:
                    self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
