"""A stand-in for a service's console script (`<service> migrate|seed|serve`) that starts in a
tenth of a second, so the runner's process handling can be tested without the real services.

Behaviour is steered by environment variables the runner passes through:
FAKE_FAIL=<service>:<command> exits 3 from that command after printing a line;
FAKE_NOT_READY=<service> makes /readyz answer 503 forever.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    command = sys.argv[1]
    name = os.environ["SERVICE_NAME"]
    if os.environ.get("FAKE_FAIL") == f"{name}:{command}":
        print(f"{name} {command}: the fake failure you asked for", flush=True)
        sys.exit(3)
    if command != "serve":
        print(f"{name}: {command} done", flush=True)
        return
    not_ready = os.environ.get("FAKE_NOT_READY") == name
    environment = {key: value for key, value in os.environ.items() if key.endswith("_URL") or key in {"PORT", "HOST"}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 503 if self.path == "/readyz" and not_ready else 200
            body = json.dumps({"service": name, "path": self.path, "env": environment}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            print(json.dumps({"level": "INFO", "message": f"GET {self.path}"}), flush=True)

    server = ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    print(json.dumps({"level": "INFO", "message": "listening", "port": int(os.environ["PORT"])}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
