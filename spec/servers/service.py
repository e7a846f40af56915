"""service.py - a small HTTP(S) service for corun's example specs.

    python3 service.py PORTFILE [--cert CERT --key KEY] [--delay PATH=SECONDS]...

Listens on 127.0.0.1, port chosen by the system (written to PORTFILE once
listening).  GET /<name> answers 200 with a small JSON body naming the
service, after the delay given for that path (default 0); GET /health
answers "ok".  Threads serve requests concurrently.  With --cert and --key
it serves HTTPS.  It stops when its standard input closes, or on SIGTERM.
"""
import http.server
import json
import os
import ssl
import sys
import threading
import time


def main():
    args = sys.argv[1:]
    portfile = args.pop(0)
    cert = key = None
    delays = {}
    while args:
        opt = args.pop(0)
        if opt == "--cert":
            cert = args.pop(0)
        elif opt == "--key":
            key = args.pop(0)
        elif opt == "--delay":
            path, seconds = args.pop(0).split("=")
            delays[path] = float(seconds)
        else:
            sys.exit("service.py: unknown option " + opt)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(delays.get(self.path, 0))
            if self.path == "/health":
                body = b"ok"
            else:
                body = json.dumps({"service": self.path.strip("/"),
                                   "ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sys.stdin.read()  # until the spec closes our stdin (or kills us)
    except KeyboardInterrupt:
        pass
    server.shutdown()


if __name__ == "__main__":
    main()
