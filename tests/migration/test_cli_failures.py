"""What a deploy script sees when something is wrong: exit status and a message naming the cause."""
from __future__ import annotations

from .conftest import s3_environ
from .seed import rows, seed
from .test_cli_scenario import cli, finish


def test_bad_configuration_exits_2_naming_the_variable(attachment_db, filestore, s3_server, unique_prefix):
    dsn, conn = attachment_db
    seed(conn, filestore, 5)
    env = {**s3_environ(s3_server, unique_prefix), "DISABLE_ATTACHMENT_STORAGE": "maybe"}
    code, report, err = finish(cli(dsn, filestore, "s3", env))
    assert code == 2 and report is None
    assert "DISABLE_ATTACHMENT_STORAGE='maybe'" in err and "1/true/yes/on" in err
    env = {k: v for k, v in s3_environ(s3_server, unique_prefix).items() if k != "AWS_BUCKETNAME"}
    code, _, err = finish(cli(dsn, filestore, "s3", env))
    assert code == 2 and "--to s3 needs AWS_BUCKETNAME" in err
    assert s3_server.secret_key not in err


def test_disabled_storage_migrates_nothing(attachment_db, filestore, s3_server, unique_prefix):
    dsn, conn = attachment_db
    seed(conn, filestore, 5)
    before = rows(conn)
    env = {**s3_environ(s3_server, unique_prefix), "DISABLE_ATTACHMENT_STORAGE": "1"}
    code, _, err = finish(cli(dsn, filestore, "s3", env))
    assert code == 0 and "migration skipped" in err
    assert rows(conn) == before


def test_store_down_aborts_with_exit_3_then_resumes(attachment_db, filestore, s3_server, unique_prefix):
    dsn, conn = attachment_db
    seed(conn, filestore, 40, images_every=0)
    before = rows(conn)
    env = {**s3_environ(s3_server, unique_prefix), "AWS_MAX_ATTEMPTS": "1", "AWS_CONNECT_TIMEOUT": "1"}
    with s3_server.outage():
        code, report, err = finish(cli(dsn, filestore, "s3", env))
    assert code == 3 and report is None
    assert "aborted" in err and "run again to resume" in err and s3_server.secret_key not in err
    assert rows(conn) == before  # nothing half-switched, no row pointing at an object never stored
    code, report, err = finish(cli(dsn, filestore, "s3", env))
    assert code == 0 and report["moved"] == 40 and report["remaining"] == 0, err
