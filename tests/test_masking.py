"""The one secret masker (odoo_cloud.masking): every URL/text shape it must hide, what it must keep."""
from __future__ import annotations

import pytest

from odoo_cloud import config, masking
from odoo_cloud.masking import MASK, bounded, is_secret_name, mask_data, mask_secrets

SECRET = "Zq7secretVALUE"


@pytest.mark.parametrize("text", [
    f"redis://:{SECRET}@redis.internal:6379/0",
    f"redis://odoo:{SECRET}@redis.internal:6379/0",
    f"redis://:p@ss{SECRET}@host:6379/0",                 # '@' inside the password
    f"redis://:{SECRET}@@host",
    f"rediss://user:{SECRET}@host:6380/1?ssl_cert_reqs=none",
    f"redis://host:6379/0?password={SECRET}",
    f"redis://host/0?db=1&PASSWORD={SECRET}&socket_timeout=1",
    f"unix:///run/redis.sock?password={SECRET}&db=2",
    f"unix:///run/redis.sock?db=2&password={SECRET}",
    f"redis://:pa/ss{SECRET}@host",                        # unencoded '/', '?', '#': not a valid URL,
    f"redis://:pa?ss{SECRET}@host/0",                      # still never printed
    f"redis://:pa#ss{SECRET}@host",
    f"redis://:{SECRET}",                                  # no host (a config error quotes it)
    f"redis://redis://:{SECRET}@h:6379",                   # a URL in a host variable
    f"https://minio:9000/bucket/key?X-Amz-Credential={SECRET}&X-Amz-Signature={SECRET}",
    f"https://s3/b/k?AWSAccessKeyId=AKIA&Signature={SECRET}&Expires=1",
    f"https://swift/v1/AUTH_x/c/o?temp_url_sig={SECRET}&temp_url_expires=1",
    f"GET /my/orders/7?access_token={SECRET}&report_type=pdf HTTP/1.1",
    f"GET /web/reset_password?db=x&token={SECRET} HTTP/1.1",
    f"/mail/view?model=sale.order&res_id=3&hash={SECRET}&pid=4",
    f"/web/signup?Token={SECRET}",
    f"/x?api_key={SECRET}", f"/x?apiKey={SECRET}", f"/x?sessionToken={SECRET}", f"/x?auth={SECRET}",
    f"/x?pwd={SECRET}", f"/x?passwd={SECRET}", f"/x?secret={SECRET}", f"/x?client_secret={SECRET}",
    f"/x?key={SECRET}", f"/x?sig={SECRET}", f"/x?credential={SECRET}", f"/x?pass%77ord={SECRET}",
    f"/x?%70assword={SECRET}", f"/x?%50%57%44={SECRET}",
    f"/x#access_token={SECRET}",
    f"dbname=odoo user=odoo password={SECRET} host=db",
    f"dbname=odoo password='{SECRET} with space' host=db",
    f"params {{'login': 'admin', 'password': '{SECRET}', 'db': 'x'}}",
    f'{{"jsonrpc": "2.0", "params": {{"password": "{SECRET}"}}}}',
    f"{{'auth': {{'user': 'a', 'pw': '{SECRET}'}}, 'db': 'x'}}",
    f"{{'password': b'{SECRET}'}}",
    f"Cookie: session_id={SECRET}; frontend_lang=en_US",
])
def test_every_shape_of_secret_is_hidden(text):
    masked = mask_secrets(text)
    assert SECRET not in masked and MASK in masked, masked


@pytest.mark.parametrize(("text", "expected"), [
    ("redis://:p@ss@host:6379/0", "redis://:****@host:6379/0"),
    ("redis://user:pw@h:1/0", "redis://user:****@h:1/0"),
    ("redis://h/0?password=pw&db=1", "redis://h/0?password=****&db=1"),
    ("/my/orders/7?access_token=abc&report_type=pdf", "/my/orders/7?access_token=****&report_type=pdf"),
    ("{'password': 'x', 'db': 'y'}", "{'password': '****', 'db': 'y'}"),
])
def test_masking_keeps_everything_else(text, expected):
    assert mask_secrets(text) == expected


@pytest.mark.parametrize("text", [
    "redis://localhost:6379/0", "http://[::1]:8069/web", "/web?db=prod&debug=1",
    "http://localhost:8069/web/signup?login=a@b.com", "user@example.com", "a = b", "key: value",
    "/web?keyword=x&design=y&author=z&tokenizer=t&bypass=1", "Registry loaded in 1.234s",
    "https://h:80/x/a@b", "", "redis://127.0.0.1:6379: Error 111 connecting to 127.0.0.1:6379.",
    "see http://h:8069.", "(http://h:8069)",
])
def test_text_without_secrets_is_unchanged(text):
    assert mask_secrets(text) == text


@pytest.mark.parametrize(("name", "secret"), [
    ("password", True), ("db_password", True), ("PASSWD", True), ("session_token", True),
    ("aws_secret_access_key", True), ("x-api-key", True), ("Authorization", True), ("cookie", True),
    ("hash", True), ("access_token", True), ("X-Amz-Signature", True), ("AWSAccessKeyId", True),
    ("temp_url_sig", True), ("sessionToken", True), ("credentials", True), ("auth", True),
    ("tests_passed", False), ("bypass_cache", False), ("passenger_count", False), ("tokenizer", False),
    ("job_uuid", False), ("bucket", False), ("keyword", False), ("design", False), ("author", False),
])
def test_which_names_are_secrets(name, secret):
    assert is_secret_name(name) is secret


def test_structured_data_is_masked_by_key_at_any_depth():
    value = {"params": {"password": "pw", "list": [{"token": 1}, "redis://:a@b", ("x", {"hash": "h"})]},
             "n": 1, 3: "three"}
    assert mask_data(value) == {"params": {"password": MASK, "list": [{"token": MASK}, "redis://:****@b",
                                                                      ["x", {"hash": MASK}]]},
                                "n": 1, 3: "three"}
    circular: list = []
    circular.append(circular)
    assert mask_data(circular) == "[[...]]"
    assert mask_data({"a": circular, "password": "pw"}) == "{'a': [[...]], 'password': '****'}"


def test_bounded_says_how_much_was_cut():
    assert bounded("abcdef", 10) == "abcdef"
    assert bounded("abcdef", 4) == "abcd…[2 characters cut]"
    assert bounded("abcdef", 4, keep="tail") == "[2 characters cut]…cdef"
    # cut in the middle of a secret, then masked: nothing of it remains
    assert SECRET[:5] not in mask_secrets(bounded(f"redis://:{SECRET}@host", 16))


def test_there_is_one_masker():
    """config.mask_url and masking.mask_url are the same function object, not a second implementation."""
    assert config.mask_url is masking.mask_secrets is masking.mask_url
    from odoo_cloud import logs
    from odoo_cloud.config import _parse

    assert logs.MASK is _parse.MASK is MASK
    assert not hasattr(_parse, "mask_url") and not hasattr(logs, "mask_query_secrets")
