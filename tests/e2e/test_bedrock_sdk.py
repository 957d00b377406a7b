"""botocore's own ``bedrock-runtime`` client, pointed at the gateway with the gateway key as its Bedrock
API key (``AWS_BEARER_TOKEN_BEDROCK``): the gateway re-signs every call with the stored secrets.

botocore sends a bearer token over HTTPS only, as it should, so the gateway gets a TLS listener
here (a throwaway self-signed certificate for 127.0.0.1 that the client is told to trust).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session
import pytest
import uvicorn
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.exceptions import EventStreamError as BotoEventStreamError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from genai_prices import extract_usage

from tests.support.gateway import GatewayServer, Tenant
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator
from tollgate.testing._bedrock import SIM_ACCESS_KEY_ID, SIM_REGION

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
MESSAGES: Any = [{"role": "user", "content": [{"text": "hello from botocore"}]}]


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tollgate test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_url(gateway: GatewayServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A second, TLS listener of the same running gateway (same app, same loop, same state)."""
    cert, key = _certificate(tmp_path)
    config = uvicorn.Config(
        gateway.app,
        host="127.0.0.1",
        port=0,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,  # a stream botocore abandoned may hold its connection open
    )
    server = uvicorn.Server(config)
    assert gateway.loop is not None
    serving = asyncio.run_coroutine_threadsafe(server.serve(), gateway.loop)
    deadline = time.monotonic() + 10
    while not server.started:
        assert not serving.done() and time.monotonic() < deadline, "the TLS listener did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"https://127.0.0.1:{port}", cert
    server.should_exit = True
    serving.result(timeout=10)


@pytest.fixture
def bedrock(
    tenant: Tenant, tls_url: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[BaseClient]:
    root, cert = tls_url
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", tenant.key)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups
    client = botocore.session.Session().create_client(
        "bedrock-runtime",
        region_name=SIM_REGION,
        endpoint_url=f"{root}/api/proxy/aws_bedrock",
        verify=str(cert),
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    yield client
    client.close()


def _cost(usage: dict[str, Any]) -> int:
    extracted = extract_usage({"model": MODEL, "usage": usage}, provider_id="aws")
    return usd_to_nanos(extracted.calc_price().total_price)


def test_converse_through_the_gateway(bedrock: BaseClient, tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(cache_read_tokens=300, output_tokens=6))
    reply = bedrock.converse(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 64})
    assert reply["output"]["message"]["content"] == [{"text": "tok1 tok2 tok3 tok4 tok5 tok6"}]
    upstream = sim.received[-1]
    assert upstream.path == f"/bedrock/model/{MODEL}/converse"
    assert upstream.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={SIM_ACCESS_KEY_ID}/")
    assert tenant.key not in str(upstream.headers)
    headers = reply["ResponseMetadata"]["HTTPHeaders"]
    record = tenant.record(headers["x-tollgate-request-id"])
    assert (record["door"], record["model"]) == ("passthrough", MODEL)
    assert record["costNanos"] == _cost(reply["usage"]) > 0
    assert record["cacheReadTokens"] == 300


def test_converse_stream_through_the_gateway(bedrock: BaseClient, tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=9, chunks=3))
    reply = bedrock.converse_stream(modelId=MODEL, messages=MESSAGES)
    events = list(reply["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds == [
        "messageStart",
        *["contentBlockDelta"] * 3,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == " ".join(f"tok{i}" for i in range(1, 10))
    usage = events[-1]["metadata"]["usage"]
    record = tenant.record(reply["ResponseMetadata"]["HTTPHeaders"]["x-tollgate-request-id"])
    assert record["stream"] is True and record["status"] == "success"
    assert record["costNanos"] == _cost(usage) > 0


def test_botocore_raises_on_an_exception_inside_the_stream(
    bedrock: BaseClient, tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(midstream_error_after=1, error_message="Too many tokens"))
    reply = bedrock.converse_stream(modelId=MODEL, messages=MESSAGES)
    with pytest.raises(BotoEventStreamError) as caught:
        list(reply["stream"])
    assert caught.value.response["Error"] == {"Code": "throttlingException", "Message": "Too many tokens"}


def test_botocore_raises_on_a_stream_cut_by_the_upstream(bedrock: BaseClient, sim: Simulator) -> None:
    sim.enqueue(Scenario(disconnect_after=2))
    reply = bedrock.converse_stream(modelId=MODEL, messages=MESSAGES)
    with pytest.raises(BotoEventStreamError) as caught:
        list(reply["stream"])
    assert caught.value.response["Error"]["Code"] == "internalServerException"


def test_a_wrong_gateway_key_is_an_aws_error_botocore_understands(
    bedrock: BaseClient, monkeypatch: pytest.MonkeyPatch, tls_url: tuple[str, Path]
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "tg_wrong_key_0000")
    root, cert = tls_url
    client = botocore.session.Session().create_client(
        "bedrock-runtime",
        region_name=SIM_REGION,
        endpoint_url=f"{root}/api/proxy/aws_bedrock",
        verify=str(cert),
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as caught:
        client.converse(modelId=MODEL, messages=MESSAGES)
    client.close()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
