"""The simulator's service account: what ``serve --demo`` and the tests sign Vertex token requests with.

Its RSA key is fixed and **public** (its primes are right here), so it can never be anyone's real
key and it costs nothing to make: ``serve --demo`` and every test tenant get the same one without
generating a key or touching the network. The simulator accepts any well-formed assertion until a
public key is registered (``VertexUpstream.public_keys``); register ``demo_public_key_pem()`` under
``DEMO_CLIENT_EMAIL`` to have it verify this key's signatures too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEMO_CLIENT_EMAIL = "tollgate-demo@tollgate-simulator.iam.gserviceaccount.com"
DEMO_KEY_ID = "tollgate-simulator-demo-key"
DEMO_PROJECT = "tollgate-demo"
DEMO_LOCATION = "us-central1"
DEMO_MODEL = "gemini-2.5-flash"

_E = 65537
_P = int(
    "d3af9a31e629dd6595a5fbfe25b497041de0561db1007f3167b0596d6a82ea502ece33f8245ac5947db2f3919de738"
    "1c2a69f9bfa1d1c6067c92b4d8a10e5e4a48395dc8d245c87313e501d255f03bc89fcf4a7dc712ee5384e98a5391f5"
    "13cc24df96f3fe93fc1c4506a0aa93e2ff8784cc0f437d5739783926f8ae23497c31",
    16,
)
_Q = int(
    "bbd62fa50bfbffd01bec227f48534a58371d3e53b931d516b168c797f991b166ab0e3b24ade786cb556e734d729b66"
    "3554d64f0aa144bce910c1a9ea089d3e0ad99a5bd2d2da8ac59fdf7e1ceafdb339912ca02ed400c5b8bf1b4b5207ec"
    "066cc5bb010f174fae773fc9bd84254095b9ad3b9668d8bb621bdaf82083c306c087",
    16,
)


def demo_private_key() -> rsa.RSAPrivateKey:
    """The 2048-bit demo key, rebuilt from its primes (a few modular inverses: no key generation)."""
    d = pow(_E, -1, (_P - 1) * (_Q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=_P,
        q=_Q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, _P),
        dmq1=rsa.rsa_crt_dmq1(d, _Q),
        iqmp=rsa.rsa_crt_iqmp(_P, _Q),
        public_numbers=rsa.RSAPublicNumbers(_E, _P * _Q),
    )
    # The key is fixed and known to be sound (the gateway validates it in full when a credential
    # holding it is created), so the costly consistency check is skipped here.
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def demo_public_key_pem() -> str:
    public = demo_private_key().public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def demo_service_account() -> dict[str, str]:
    """A ``google_vertex`` secrets bundle: ``{clientEmail, privateKey, privateKeyId}``."""
    pem = demo_private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"clientEmail": DEMO_CLIENT_EMAIL, "privateKey": pem.decode(), "privateKeyId": DEMO_KEY_ID}


def _via_loopback(url: str) -> str:
    """A simulator bound to every interface (``--host 0.0.0.0``) is reached on loopback: the only
    host a token or an assertion may be sent to over plain http."""
    parts = urlsplit(url)
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(parts.hostname or "")
    if host is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


def vertex_credential(name: str, endpoint_url: str, token_uri: str) -> dict[str, Any]:
    """The credential body for the simulator's Vertex AI: the demo account, the simulator's API as
    ``endpointUrl`` and its token endpoint as ``tokenUri``."""
    config = {
        "projectId": DEMO_PROJECT,
        "location": DEMO_LOCATION,
        "defaultModel": DEMO_MODEL,
        "endpointUrl": _via_loopback(endpoint_url),
        "tokenUri": _via_loopback(token_uri),
    }
    return {"provider": name, "secrets": demo_service_account(), "config": config}
