"""A FastAPI resource server that accepts Latch's JWT access tokens.

It checks each token offline: the signature against Latch's JWKS, typ at+jwt,
iss, aud and exp (PyJWT), then the token's status in the Token Status List
that Latch publishes (fetched, kept for its ttl, inflated, one bit tested).

    LATCH_ISSUER=https://login.example API_AUDIENCE=https://api.example \\
        /usr/bin/python3 -m uvicorn app:app
Debian: apt-get install python3-fastapi python3-jwt python3-uvicorn
"""
import base64, json, os, threading, time, urllib.request, zlib

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request

ISSUER, AUDIENCE = os.environ["LATCH_ISSUER"], os.environ["API_AUDIENCE"]
ALGS = ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"]  # never HS*: the keys are public
with urllib.request.urlopen(ISSUER + "/.well-known/oauth-authorization-server", timeout=10) as res:
    jwks = jwt.PyJWKClient(json.load(res)["jwks_uri"])
lists, lock = {}, threading.Lock()  # status list URI -> (fetched at, ttl, bits, bytes)
app = FastAPI()


def verify(token, typ, **kw):  # signature by a key of the JWKS, and the JOSE typ
    if jwt.get_unverified_header(token).get("typ") not in (typ, "application/" + typ):
        raise jwt.InvalidTokenError("typ")
    return jwt.decode(token, jwks.get_signing_key_from_jwt(token).key, algorithms=ALGS, **kw)


def status_list(uri):
    with lock:
        hit = lists.get(uri)
        if not hit or time.monotonic() - hit[0] >= hit[1]:  # cached for ttl seconds
            req = urllib.request.Request(uri, headers={"Accept": "application/statuslist+jwt"})
            with urllib.request.urlopen(req, timeout=5) as res:
                c = verify(res.read().decode(), "statuslist+jwt", options={"require": ["sub", "iat"]})
            if c["sub"] != uri:
                raise ValueError("the list is not the one asked for")
            lst = base64.urlsafe_b64decode(c["status_list"]["lst"] + "==")
            hit = lists[uri] = (time.monotonic(), c.get("ttl", 60), c["status_list"]["bits"],
                                zlib.decompressobj().decompress(lst, 1 << 24))
        return hit[2], hit[3]


def claims(request: Request):
    invalid = HTTPException(401, "invalid_token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    try:
        c = verify(token, "at+jwt", audience=AUDIENCE, issuer=ISSUER, options={"require": ["exp", "iss", "aud"]})
    except jwt.PyJWTError:
        raise invalid
    ref = c.get("status", {}).get("status_list")
    if ref:
        uri, idx = ref["uri"], ref["idx"]
        if not uri.startswith(ISSUER + "/") or "/.." in uri:  # fetch only Latch's lists (SSRF)
            raise invalid
        if type(idx) is not int or idx < 0:
            raise invalid
        try:
            bits, data = status_list(uri)
        except Exception:  # no list, no answer: fail closed
            raise HTTPException(503, "the token's status cannot be checked now", {"Retry-After": "5"})
        per = 8 // bits
        if idx >= len(data) * per or (data[idx // per] >> (idx % per * bits)) & ((1 << bits) - 1):
            raise invalid  # revoked, or outside the list
    return c


@app.get("/whoami")
def whoami(c: dict = Depends(claims)):
    return {"sub": c["sub"], "client_id": c.get("client_id"), "scope": c.get("scope")}
