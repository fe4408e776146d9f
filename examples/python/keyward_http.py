"""A client for keywardd's HTTP/JSON API on its Unix socket, using only the standard library.

The routes and JSON fields are those of README.md's "HTTP API" section.
One connection is kept open and reused (HTTP/1.1 keep-alive).
Before anything is sent, the daemon's uid is read from the kernel (SO_PEERCRED) and checked,
as the Rust client and the CLI do: a socket path alone proves nothing.
"""

import http.client
import json
import os
import pwd
import socket
import struct

#: The HTTP socket of a daemon started as root; KEYWARD_HTTP_SOCKET overrides it.
DEFAULT_SOCKET = "/run/keyward/http.sock"

#: Seconds any one request may take before the connection is given up.
TIMEOUT = 10.0


class KeywardError(Exception):
    """An answer the daemon gave with an error status: its status, code and message."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def trusted_uids():
    """The daemon uids trusted: root, our own, the system user `keyward`, KEYWARD_DAEMON_UID."""
    uids = {0, os.geteuid()}
    try:
        uids.add(pwd.getpwnam("keyward").pw_uid)
    except KeyError:
        pass
    for uid in os.environ.get("KEYWARD_DAEMON_UID", "").split(","):
        if uid.strip():
            uids.add(int(uid))
    return uids


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection over a Unix socket, refusing a daemon whose uid is not trusted."""

    def __init__(self, path, timeout=TIMEOUT):
        # The host only fills the Host header: nothing is resolved.
        super().__init__("keyward", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid not in trusted_uids():
                raise ConnectionRefusedError(
                    f"{self.socket_path}: the daemon runs as uid {uid}, which is not trusted "
                    "(add it to KEYWARD_DAEMON_UID to trust it)"
                )
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Keyward:
    """keywardd's HTTP API: `call` sends one request and returns the JSON reply."""

    def __init__(self, path=None, admin_key=None):
        self.path = path or os.environ.get("KEYWARD_HTTP_SOCKET") or DEFAULT_SOCKET
        self.admin_key = admin_key
        self.conn = UnixHTTPConnection(self.path)

    def call(self, method, route, body=None, admin=False):
        """Sends `body` (a dict, as JSON) to `route` and returns (status, reply as a dict).

        Raises KeywardError for a 4xx or 5xx answer, with the daemon's error code.
        """
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if admin:
            headers["Authorization"] = f"Bearer {self.admin_key}"
        self.conn.request(method, route, body=data, headers=headers)
        reply = self.conn.getresponse()
        text = reply.read()
        payload = json.loads(text) if text else {}
        if reply.status >= 400:
            error = payload.get("error", {})
            raise KeywardError(reply.status, error.get("code"), error.get("message"))
        return reply.status, payload

    def close(self):
        self.conn.close()

    def create_client(self, label=None, scopes=None):
        """POST /v1/clients: a new client and its first session."""
        body = {}
        if label is not None:
            body["label"] = label
        if scopes is not None:
            body["scopes"] = scopes
        return self.call("POST", "/v1/clients", body, admin=True)

    def issue_session(self, client_id):
        """POST /v1/clients/{id}/sessions: a fresh session for a client (a refresh)."""
        return self.call("POST", f"/v1/clients/{client_id}/sessions", admin=True)

    def create_api_token(self, name, scopes=None, expires_in=None):
        """POST /v1/api-tokens: a token for a service, with scopes such as {"catalog": "read"}."""
        body = {"name": name}
        if scopes is not None:
            body["scopes"] = scopes
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self.call("POST", "/v1/api-tokens", body, admin=True)

    def verify(self, token, env=None, kinds=None, scope=None, level=None):
        """POST /v1/verify: who a token stands for, if it meets the requirements given."""
        body = {"token": token}
        for field, value in (("env", env), ("kinds", kinds), ("scope", scope), ("level", level)):
            if value is not None:
                body[field] = value
        return self.call("POST", "/v1/verify", body)

    def logout(self, token):
        """POST /v1/logout: ends the credential the token stands for."""
        return self.call("POST", "/v1/logout", {"token": token})
