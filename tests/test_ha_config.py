"""How the service is told where a highly available PostgreSQL and Redis are
(SPEC section 16): a libpq multi-host DATABASE_URL goes to libpq as it is,
and REDIS_SENTINELS with REDIS_SENTINEL_MASTER name the Sentinels that know
which Redis is the master."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config import Config, StartupError
from deploy.processes import free_port
from events.fanout import deployment_tag
from models.connection import open_database
from tests.support.environment import CONFIG, ROOT, required_database_url

SENTINELS = {"REDIS_SENTINELS": "127.0.0.1:26390, 127.0.0.1:26391,127.0.0.1:26392", "REDIS_SENTINEL_MASTER": "gateway"}


def test_sentinels_and_a_master_name_make_a_services_configuration():
    config = Config.from_env(SENTINELS)
    assert not config.embedded
    assert config.redis_sentinels
    assert config.redis_url == "redis+sentinel://127.0.0.1:26390,127.0.0.1:26391,127.0.0.1:26392/gateway/0"


def test_with_sentinels_redis_url_gives_only_the_database_number_and_password():
    config = Config.from_env({**SENTINELS, "REDIS_URL": "redis://:s3cret@elsewhere:6379/7"})
    assert config.redis_url == "redis+sentinel://:s3cret@127.0.0.1:26390,127.0.0.1:26391,127.0.0.1:26392/gateway/7"


def test_a_plain_redis_url_is_used_as_given():
    config = Config.from_env({"REDIS_URL": "redis://127.0.0.1:6379/8"})
    assert config.redis_url == "redis://127.0.0.1:6379/8"
    assert not config.redis_sentinels


def test_sentinels_without_a_master_name_are_refused_in_one_line():
    with pytest.raises(StartupError, match="REDIS_SENTINEL_MASTER"):
        Config.from_env({"REDIS_SENTINELS": "127.0.0.1:26390"})


def test_a_sentinel_that_is_not_host_and_port_is_refused_in_one_line():
    with pytest.raises(StartupError, match="host:port"):
        Config.from_env({"REDIS_SENTINELS": "127.0.0.1", "REDIS_SENTINEL_MASTER": "gateway"})


def test_a_single_host_database_keeps_its_redis_channels():
    # Processes of one deployment must agree on their channels: the tag of a
    # plain URL is what it always was.
    assert deployment_tag("postgresql://root@127.0.0.1:5432/testha") == "gateway:2772e8208557"


def test_a_multi_host_database_has_redis_channels_of_its_own():
    cluster = "postgresql://root@127.0.0.1:5441,127.0.0.1:5442,127.0.0.1:5443/gateway?target_session_attrs=read-write"
    assert deployment_tag(cluster) == deployment_tag(cluster)
    assert deployment_tag(cluster) != deployment_tag("postgresql://root@127.0.0.1:5441/gateway")


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.database_url, reason="needs PostgreSQL (DATABASE_URL)")
def test_a_multi_host_database_url_reaches_the_host_that_answers():
    # The first host has nothing listening: libpq goes on to the next.
    single = required_database_url()
    scheme, _, rest = single.partition("://")
    credentials, _, location = rest.rpartition("@")
    hosts, _, name = location.partition("/")
    multi = f"{scheme}://{credentials}@127.0.0.1:1,{hosts}/{name.split('?')[0]}?target_session_attrs=read-write"
    db = open_database(multi, sqlite_path=None)  # type: ignore[arg-type]
    try:
        assert db.execute_sql("SELECT NOT pg_is_in_recovery()").fetchone() == (True,)
    finally:
        db.close()


def test_redis_sentinels_that_do_not_answer_are_named_in_one_line():
    # Nothing listens on these ports: the server says where it looked.
    env = dict(
        os.environ,
        DATABASE_URL=CONFIG.database_url or "",
        REDIS_SENTINELS="127.0.0.1:1,127.0.0.1:2",
        REDIS_SENTINEL_MASTER="gateway",
    )
    env.pop("REDIS_URL", None)
    if not CONFIG.database_url:
        env.pop("DATABASE_URL")
    done = subprocess.run(
        [sys.executable, "server.py", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the Redis master 'gateway' (database 0) of the Sentinels 127.0.0.1:1,127.0.0.1:2" in lines[0]
    assert "REDIS_SENTINEL_MASTER" in lines[0]
