#!/usr/bin/env python3
"""A minimal OTLP/HTTP receiver for benchmarks: accepts POST /v1/traces (protobuf), answers
200 with an empty ExportTraceServiceResponse, counts requests and bytes. It does not decode
spans, so it costs little CPU beside the proxy being measured.

    otlp-sink.py PORT          (prints "requests bytes" on SIGTERM)
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {"requests": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (the http.server naming)
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        counts["requests"] += 1
        counts["bytes"] += length
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)

    def stop(*_):
        print(counts["requests"], counts["bytes"], flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
