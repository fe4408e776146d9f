#!/usr/bin/env python3
"""The wallet backend's flow against a running keywardd, over its HTTP/JSON API.

Creates a client, verifies its session with the environment pinned to live, refreshes it,
then creates an API token and checks its scope: one level allowed, one refused with 403.
Needs a live admin key in KEYWARD_ADMIN_KEY; KEYWARD_HTTP_SOCKET names the socket
(default /run/keyward/http.sock).
Prints each step, never a token; exits 1 on any unexpected answer, 2 when misconfigured.
"""

import os
import sys

from keyward_http import Keyward, KeywardError


class Unexpected(Exception):
    """The daemon answered, but not what the flow expects."""


def expect(what, got, want):
    if got != want:
        raise Unexpected(f"{what}: expected {want!r}, got {got!r}")


def run(kw):
    status, created = kw.create_client(label="demo", scopes={"catalog-a": "read"})
    expect("client create status", status, 201)
    client_id = created["client_id"]
    session = created["session"]
    print(f"created client {client_id} with session {session['id']}")

    status, who = kw.verify(session["token"], env="live", kinds=["session"])
    expect("verify status", status, 200)
    expect("verified principal", who["principal_id"], client_id)
    expect("verified env", who["env"], "live")
    expect("verified credential", who["credential_id"], session["id"])
    print(f"verified session {who['credential_id']}: principal {client_id}, env live")

    status, fresh = kw.issue_session(client_id)
    expect("session issue status", status, 201)
    status, who = kw.verify(fresh["token"], env="live")
    expect("verified refreshed credential", who["credential_id"], fresh["id"])
    print(f"refreshed client {client_id}: new session {fresh['id']} verifies")

    status, api = kw.create_api_token("demo-service", scopes={"catalog-a": "read"}, expires_in="1d")
    expect("api-token create status", status, 201)
    print(f"created API token {api['id']} with scope catalog-a=read")

    status, who = kw.verify(api["token"], scope="catalog-a", level="read")
    expect("verify scope status", status, 200)
    expect("verified kind", who["kind"], "api_token")
    print("scope catalog-a=read: allowed")

    try:
        kw.verify(api["token"], scope="catalog-a", level="write")
    except KeywardError as refused:
        expect("scope refusal status", refused.status, 403)
        expect("scope refusal code", refused.code, "FORBIDDEN")
        print(f"scope catalog-a=write: refused ({refused.status} {refused.code})")
    else:
        raise Unexpected("a read-only token was allowed to write")


def main():
    admin_key = os.environ.get("KEYWARD_ADMIN_KEY")
    if not admin_key:
        print("demo: set KEYWARD_ADMIN_KEY to a live admin key", file=sys.stderr)
        return 2
    kw = Keyward(admin_key=admin_key)
    try:
        run(kw)
    except (KeywardError, Unexpected, OSError, KeyError, ValueError) as failure:
        # Messages name statuses, codes and fields, never a token.
        print(f"demo: {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    finally:
        kw.close()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
