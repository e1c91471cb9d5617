"""`stafett`: run the product, one service, the migrations, or the demo data."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from shared.settings import SettingsError, host_and_port
from stafett.services import SERVICE_NAMES, service_spec

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stafett", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run all three services locally (Ctrl-C stops them)")
    run.add_argument("--no-banner", action="store_true", help="print no welcome text")

    serve = commands.add_parser("serve", help="run one service in this process")
    serve.add_argument("service", choices=SERVICE_NAMES)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", metavar="SERVICE", help="auth, logg (default: all)")

    demo = commands.add_parser("demo", help="fill a running instance with demo logs")
    demo.add_argument("--file", help="the demo data file (default: deploy/demo/demo.json)")

    keys = commands.add_parser("keys", help="manage auth's service-token signing keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_commands.add_parser(
        "rotate", help="publish a new signing key now; it signs after the publish-ahead time"
    )

    audit = commands.add_parser("audit", help="check logg's access log (innsynslogg)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser(
        "verify", help="recompute every hash chain and check the signed heads (exit 1 if broken)"
    )
    audit_commands.add_parser(
        "erasures", help="list the erased logs and entries: when, by whom, why, what was kept"
    )

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines carry ids, not news
    try:
        if args.command == "run":
            from stafett.supervisor import run_all

            return run_all(os.environ, banner=not args.no_banner)
        if args.command == "serve":
            return _serve(args.service, migrate=args.migrate)
        if args.command == "migrate":
            migrate_services(args.services or SERVICE_NAMES, os.environ)
            return 0
        if args.command == "audit" and args.audit_command == "erasures":
            from stafett.erasures import erasures_command

            return erasures_command(os.environ)
        if args.command == "audit":
            from stafett.audit import verify_command

            return verify_command(os.environ)
        if args.command == "demo":
            from stafett.demo import run_demo

            return run_demo(os.environ, args.file)
        if args.command == "keys":
            return _rotate_keys()
    except (SettingsError, ValueError) as error:
        print(f"stafett: configuration error: {error}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover - argparse requires a command


def migrate_services(names: Sequence[str], environ: Mapping[str, str]) -> None:
    from shared.migrations import upgrade_to_head

    for name in names:
        spec = service_spec(name)
        if spec.migrations_dir is None:
            continue
        settings = spec.load_settings(environ)
        upgrade_to_head(settings.database_url, spec.migrations_dir)


def _rotate_keys() -> int:
    import asyncio
    from datetime import UTC, datetime

    from services.auth.settings import Settings as AuthSettings
    from services.auth.signing_keys import rotate_signing_key

    key = asyncio.run(rotate_signing_key(AuthSettings.from_env(os.environ)))
    signs_from = datetime.fromtimestamp(key.signs_from, UTC).isoformat(timespec="seconds")
    print(f"signing key {key.kid} (generation {key.generation}) published; signs from {signs_from}")
    return 0


def _serve(name: str, *, migrate: bool) -> int:
    import uvicorn

    spec = service_spec(name)
    if migrate:
        migrate_services([name], os.environ)
    settings = spec.load_settings(os.environ)
    bind = os.environ.get(f"STAFETT_{name.upper()}_BIND")  # e.g. 0.0.0.0:8002 in a container
    host, port = host_and_port(f"http://{bind}" if bind else spec.base_url(settings))
    app = spec.create_app(settings)
    access_log = os.environ.get("STAFETT_ACCESS_LOG", "") == "1"
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=access_log,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,  # open event streams (live updates) must not hold a stop
        log_level=os.environ.get("STAFETT_LOG_LEVEL", "info").lower(),
    )
    return 0
