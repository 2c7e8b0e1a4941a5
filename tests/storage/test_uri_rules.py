"""Pure parts of the storage core: store_fname URIs, {db} substitution, keep-in-DB rules."""
from __future__ import annotations

import pytest

from odoo_cloud.storage import InvalidKey, bucket_for_db, format_uri, is_object_uri, parse_uri
from odoo_cloud.storage.rules import DEFAULT_RULES, RulesError, keep_in_database, parse_rules
from odoo_cloud.storage.uri import has_object_scheme

SHA = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def test_uri_round_trip_both_schemes():
    for scheme in ("s3", "swift"):
        fname = format_uri(scheme, "proj-odoo-prod", SHA)
        assert fname == f"{scheme}://proj-odoo-prod/{SHA}"
        uri = parse_uri(fname)
        assert (uri.scheme, uri.bucket, uri.key) == (scheme, "proj-odoo-prod", SHA)
        assert str(uri) == fname


@pytest.mark.parametrize("fname", [None, False, "", "da/" + SHA, "file://b/k", "S3://b/k"])
def test_non_object_names_are_not_uris(fname):
    # False: what Odoo's ORM gives for a row whose content is in the database (asset bundles...)
    assert parse_uri(fname) is None
    assert not is_object_uri(fname)
    assert not has_object_scheme(fname)


@pytest.mark.parametrize("fname", ["s3://", "s3://bucket", "s3:///k", "swift://../b/" + SHA,
                                   "s3://b/../c/" + SHA, "s3://b//" + SHA, "swift://b/" + SHA + "\n"])
def test_invalid_object_references_are_refused_not_taken_for_local_names(fname):
    with pytest.raises(InvalidKey):
        parse_uri(fname)
    assert not is_object_uri(fname)


def test_format_rejects_bad_parts():
    with pytest.raises(ValueError, match="scheme"):
        format_uri("ftp", "b", "k")
    with pytest.raises(ValueError, match="bucket"):
        format_uri("s3", "a/b", "k")
    with pytest.raises(ValueError, match="key"):
        format_uri("s3", "b", "")


def test_db_substitution():
    assert bucket_for_db("acme-odoo-{db}", "prod") == "acme-odoo-prod"
    assert bucket_for_db("acme-odoo-prod", None) == "acme-odoo-prod"
    assert bucket_for_db("a{x}-{db}", "d") == "a{x}-d"
    with pytest.raises(ValueError, match=r"\{db\}"):
        bucket_for_db("acme-{db}", None)


def test_default_rules_keep_small_images_and_assets():
    rules = parse_rules(None)
    assert rules == DEFAULT_RULES
    assert keep_in_database("image/png", 51200, rules)
    assert not keep_in_database("image/png", 51201, rules)
    assert keep_in_database("application/javascript", 10 * 1024 * 1024, rules)
    assert keep_in_database("text/css", 5 * 1024 * 1024, rules)
    assert not keep_in_database("application/pdf", 10, rules)
    assert not keep_in_database(None, 10, rules)


def test_longest_prefix_wins_and_both_literal_forms_parse():
    rules = parse_rules("{'image/': 100, 'image/svg+xml': 0}")
    assert keep_in_database("image/svg+xml", 10**9, rules)
    assert not keep_in_database("image/png", 101, rules)
    assert parse_rules('{"text/": 5}') == {"text/": 5}


@pytest.mark.parametrize("text", ["nonsense", "[1, 2]", '{"image/": -1}', '{"image/": "big"}', '{"": 3}',
                                  '{"image/": true}'])
def test_bad_rules_name_the_parameter_and_the_form(text):
    with pytest.raises(RulesError, match=r"ir_attachment\.storage\.force\.database=.*expected a mapping"):
        parse_rules(text)
