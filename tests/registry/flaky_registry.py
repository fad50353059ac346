#!/usr/bin/env python3
"""A registry front for keysift's tests: Bearer tokens and faults on purpose.

    flaky_registry.py PORT BACKEND LOG [--user U --password P]
                      [--faults] [--stall DIGEST]

Listens on 127.0.0.1:PORT and passes /v2/ requests on to the registry at
BACKEND (http://127.0.0.1:N). Every /v2/ request must carry a Bearer token:
without one the answer is a 401 whose WWW-Authenticate challenge names this
server's /token service, which hands out the token to anyone (or, with
--user and --password, only to a client sending those as Basic
credentials). One line per request goes to LOG.

--faults makes the first attempt at each manifest a 429, the first at each
blob a 503, and the second at each blob a response cut off halfway, so a
client must back off, retry and resume with a range request. --stall DIGEST
answers the blob DIGEST by sending half of it and then nothing, until the
test kills the server.
"""

import base64
import http.server
import sys
import threading
import time
import urllib.error
import urllib.request

TOKEN = "flaky-test-token"
PASSED_HEADERS = ("Content-Type", "Content-Length", "Content-Range",
                  "Docker-Content-Digest", "Link", "Accept-Ranges")


class State:
    def __init__(self, args):
        self.backend = args["backend"]
        self.log = open(args["log"], "a", buffering=1)
        self.user = args.get("user")
        self.password = args.get("password")
        self.faults = args.get("faults", False)
        self.stall = args.get("stall")
        self.seen = {}
        self.lock = threading.Lock()

    def attempt(self, path):
        with self.lock:
            self.seen[path] = self.seen.get(path, 0) + 1
            return self.seen[path]

    def note(self, line):
        with self.lock:
            self.log.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.state.note("%d %s %s" % (status, self.command, self.path))

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.path.startswith("/token"):
            return self.token()
        if not self.path.startswith("/v2/"):
            return self.reply(404)
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.challenge()
        kind = "blob" if "/blobs/" in self.path else "other"
        if "/manifests/" in self.path:
            kind = "manifest"
        attempt = self.state.attempt(self.path + self.headers.get("Range",
                                                                  ""))
        if self.state.stall and self.path.endswith(self.state.stall):
            return self.proxy(cut="stall")
        if self.state.faults and kind == "manifest" and attempt == 1:
            return self.reply(429, b"slow down")
        if self.state.faults and kind == "blob" and "Range" not in \
                self.headers:
            if attempt == 1:
                return self.reply(503, b"try later")
            if attempt == 2:
                return self.proxy(cut="half")
        return self.proxy()

    def token(self):
        want = None
        if self.state.user:
            pair = "%s:%s" % (self.state.user, self.state.password)
            want = "Basic " + base64.b64encode(pair.encode()).decode()
        if want and self.headers.get("Authorization") != want:
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
        body = ('{"token": "%s", "expires_in": 300}' % TOKEN).encode()
        self.reply(200, body, [("Content-Type", "application/json")])

    def challenge(self):
        host = self.headers.get("Host")
        parts = self.path.split("?")[0].split("/")
        scope = ""
        for marker in ("manifests", "blobs", "tags"):
            if marker in parts:
                repo = "/".join(parts[2:parts.index(marker)])
                scope = ',scope="repository:%s:pull"' % repo
        if self.path.startswith("/v2/_catalog"):
            scope = ',scope="registry:catalog:*"'
        value = 'Bearer realm="http://%s/token",service="flaky"%s' % (host,
                                                                     scope)
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                   [("WWW-Authenticate", value)])

    def proxy(self, cut=None):
        req = urllib.request.Request(self.state.backend + self.path,
                                     method=self.command)
        for name in ("Accept", "Range"):
            if self.headers.get(name):
                req.add_header(name, self.headers.get(name))
        try:
            resp = urllib.request.urlopen(req)
        except urllib.error.HTTPError as err:
            resp = err
        body = resp.read()
        self.send_response(resp.status)
        for name in PASSED_HEADERS:
            if resp.headers.get(name) and name != "Content-Length":
                self.send_header(name, resp.headers.get(name))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut and self.command == "GET":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.state.note("%d %s %s cut=%s range=%s" % (
                resp.status, self.command, self.path, cut,
                self.headers.get("Range", "-")))
            if cut == "stall":
                time.sleep(3600)
            self.close_connection = True
            return
        if self.command == "GET":
            self.wfile.write(body)
        self.state.note("%d %s %s range=%s" % (resp.status, self.command,
                                               self.path,
                                               self.headers.get("Range",
                                                                "-")))


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    args = {"backend": argv[2], "log": argv[3]}
    rest = argv[4:]
    while rest:
        opt = rest.pop(0)
        if opt in ("--user", "--password", "--stall"):
            args[opt[2:]] = rest.pop(0)
        elif opt == "--faults":
            args["faults"] = True
        else:
            sys.stderr.write("unknown option %s\n" % opt)
            return 2
    Handler.state = State(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(argv[1])),
                                             Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
