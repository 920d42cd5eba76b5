"""docker-compose.yml and the Dockerfile wire what a user relies on: the database, the API, the worker.

Nothing is started: the files are parsed, and every `claims ...` command is checked against the real
argparse parser of the console script (``api.cli.build_parser``).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("api", "worker")
OFFICIAL_POSTGRES = {"postgres", "library/postgres", "docker.io/library/postgres", "docker.io/postgres"}


# --- reading the files --------------------------------------------------------------------------


def _compose() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as f:
        document = yaml.safe_load(f)
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


def _service(name: str) -> dict:
    services = _compose().get("services") or {}
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name] or {}


def _environment(service: dict) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of NAME=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command or []]


def _depends_on(service: dict) -> dict[str, dict]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # short form: no condition at all
        return {name: {} for name in depends}
    return {name: cond or {} for name, cond in depends.items()}


def _image_repository_and_tag(image: str) -> tuple[str, str]:
    image = image.split("@", 1)[0]
    repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return repository, tag


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _dockerfile_cmd() -> list[str]:
    cmds = [arguments for keyword, arguments in _dockerfile_instructions() if keyword == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])  # the last CMD wins; it must be the exec (JSON array) form
    assert isinstance(cmd, list) and all(isinstance(part, str) for part in cmd), f"CMD is not a JSON array: {cmd!r}"
    return cmd


def _assert_is_a_claims_command(command: list[str], where: str) -> None:
    from api.cli import build_parser

    assert command and command[0] == "claims", f"{where}: {command!r} is not a `claims` command"
    try:
        build_parser().parse_args(command[1:])
    except SystemExit as e:
        pytest.fail(f"{where}: `{shlex.join(command)}` is not a command `claims` accepts (argparse exit {e.code})")


# --- the database -------------------------------------------------------------------------------


def test_compose_declares_db_api_and_worker_services():
    services = _compose().get("services") or {}
    missing = {"db", *APP_SERVICES} - set(services)
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


def test_db_runs_the_official_postgres_image():
    image = _service("db").get("image", "")
    repository, _ = _image_repository_and_tag(image)
    assert repository in OFFICIAL_POSTGRES, f"db image {image!r} is not the official postgres image"


def test_db_has_a_pg_isready_healthcheck():
    healthcheck = _service("db").get("healthcheck") or {}
    assert not healthcheck.get("disable"), "db's healthcheck is disabled"
    test = healthcheck.get("test")
    text = test if isinstance(test, str) else " ".join(map(str, test or []))
    assert "pg_isready" in text, f"db's healthcheck does not run pg_isready: {test!r}"


def test_db_keeps_its_data_in_a_declared_named_volume():
    db = _service("db")
    image = db.get("image", "")
    _, tag = _image_repository_and_tag(image)
    major = tag.split(".", 1)[0].split("-", 1)[0]
    # From PostgreSQL 18 the official image's data lives in /var/lib/postgresql/<major>/docker.
    data_dir = ("/var/lib/postgresql" if int(major) >= 18 else "/var/lib/postgresql/data") if major.isdigit() else None

    mounts = []
    for volume in db.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            mounts.append((source, rest.split(":", 1)[0]))
        else:
            if volume.get("type", "volume") == "volume":
                mounts.append((volume.get("source", ""), volume.get("target", "")))
    named = [(s, t) for s, t in mounts if s and not s.startswith(("/", ".", "~", "$"))]
    assert named, f"db has no named volume: {db.get('volumes')!r}"

    declared = set((_compose().get("volumes") or {}).keys())
    for source, _ in named:
        assert source in declared, f"db's volume {source!r} is not declared under top-level `volumes`"
    if data_dir is not None:
        targets = [t.rstrip("/") for _, t in named]
        assert data_dir in targets, f"{image}: the data volume must be mounted at {data_dir}, not {targets}"


# --- the API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_reaches_db_with_its_credentials(name):
    db_env = _environment(_service("db"))
    url = _environment(_service(name)).get("DATABASE_URL")
    assert url, f"{name} has no DATABASE_URL"

    parts = urlsplit(url)
    assert parts.scheme in {"postgresql", "postgres"}, f"{name}: DATABASE_URL {url!r} is not postgresql://"
    assert parts.hostname == "db", f"{name}: DATABASE_URL points at {parts.hostname!r}, not the db service"
    assert parts.port in (None, 5432), f"{name}: DATABASE_URL uses port {parts.port}, db listens on 5432"
    assert parts.username == db_env.get("POSTGRES_USER"), f"{name}: DATABASE_URL user differs from db's POSTGRES_USER"
    assert parts.password == db_env.get("POSTGRES_PASSWORD"), f"{name}: DATABASE_URL password differs from db's"
    database = parts.path.lstrip("/")
    expected = db_env.get("POSTGRES_DB") or db_env.get("POSTGRES_USER")  # the image's default database
    assert database == expected, f"{name}: DATABASE_URL database {database!r} is not db's {expected!r}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_db_to_be_healthy(name):
    condition = _depends_on(_service(name)).get("db")
    assert condition is not None, f"{name} does not depend on db"
    assert condition.get("condition") == "service_healthy", f"{name} starts before db is healthy: {condition!r}"


def test_api_publishes_port_8000():
    published = []
    for port in _service("api").get("ports") or []:
        if isinstance(port, dict):
            published.append((str(port.get("published", "")), str(port.get("target", ""))))
        else:
            *host, container = str(port).split("/", 1)[0].split(":")
            published.append((host[-1] if host else "", container))
    assert ("8000", "8000") in published, f"api does not publish 8000:8000: {published!r}"


def test_api_command_serves_on_all_interfaces_at_port_8000():
    from api.cli import build_parser

    command = _command(_service("api"))
    _assert_is_a_claims_command(command, "api")
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    assert args.host == "0.0.0.0", "api must bind 0.0.0.0 to be reachable through the published port"
    assert args.port in (None, 8000)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_command_is_a_real_claims_subcommand(name):
    command = _command(_service(name))
    assert command, f"{name} has no command"
    if command[0] == "claims":
        _assert_is_a_claims_command(command, name)


def test_worker_runs_the_projections_alone():
    command = _command(_service("worker"))
    assert command[:2] == ["claims", "project"], f"worker does not run `claims project`: {command!r}"


# --- the image ----------------------------------------------------------------------------------


def test_dockerfile_cmd_is_a_real_claims_command():
    _assert_is_a_claims_command(_dockerfile_cmd(), "Dockerfile CMD")


def test_dockerfile_runs_as_a_non_root_user():
    users = [arguments for keyword, arguments in _dockerfile_instructions() if keyword == "USER"]
    assert users, "the Dockerfile has no USER: the service would run as root"
    assert users[-1].split(":", 1)[0] not in {"root", "0"}, f"the Dockerfile runs as {users[-1]!r}"
