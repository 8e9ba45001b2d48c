"""A tiny HTTP/1.1 backend for bench/convergence.sh: answers every GET with the local
address the client reached, so the benchmark can tell which endpoint served a request."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in two writes: without this, Nagle's algorithm and the proxy's
    # delayed ACK add ~40 ms to every answer.
    disable_nagle_algorithm = True

    def do_GET(self):
        body = (self.connection.getsockname()[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
