"""``smartsync deploy render``: the production artifacts under ``deploy/``, derived from the catalog."""

from __future__ import annotations

import shutil
from importlib.metadata import version as package_version
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer

from smartsync.cli.console import console, handle_errors

app = typer.Typer(no_args_is_help=True, help="Production artifacts: Connect, topics, Kubernetes, compose.")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Rendered trees: `render` replaces them whole, so a file the catalog no longer asks for disappears.
RENDERED_DIRS = ("connectors", "strimzi", "sql", "kubernetes", "compose")


def rendered(image: str | None = None) -> dict[PurePosixPath, str]:
    """The generated files, by path under ``deploy/``."""
    from smartsync.core.catalog import load_catalog
    from smartsync.deploy.params import overlays
    from smartsync.deploy.render import rendered as render_all

    version = package_version("smartsync")
    return render_all(load_catalog(), overlays(image or f"smartsync:{version}"), version)


@app.command()
@handle_errors
def render(
    out: Annotated[Path, typer.Option(help="Folder to write into (the repository's deploy/)")] = DEPLOY,
    image: Annotated[str | None, typer.Option(help="SmartSync image (default smartsync:<version>)")] = None,
) -> None:
    """Write the Connect configs, Strimzi resources, Kubernetes overlays and compose.yaml."""
    files = rendered(image)
    for folder in RENDERED_DIRS:
        shutil.rmtree(out / folder, ignore_errors=True)
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    console.print(f"wrote {len(files)} files under {out}")
