"""Reading a site at a version: the rules the owner's API, published sites and share links
share (a version number that must exist, a path that must be in that version's manifest)."""

from __future__ import annotations

from app.errors import NotFound, Unprocessable
from app.sites.paths import InvalidPath, normalise_path
from documents.site import Manifest, Site, SiteCard, SiteFile, manifest_at


def existing_version(site: SiteCard | Site, version: int | None) -> int:
    """`version`, or the current one when None; 422 when the site has no such version."""
    number = version or site.current_version
    if not 1 <= number <= site.current_version:
        raise Unprocessable(
            f"Version {number} does not exist (the site has 1-{site.current_version}).",
            field="body.version",
        )
    return number


def manifest_of_version(site: Site, number: int) -> Manifest:
    try:
        return manifest_at(site, number)
    except ValueError as exc:
        raise NotFound(f"No version {number}.") from exc


def file_at(site: Site, number: int, path: str) -> SiteFile:
    """The file at `path` in version `number`; 404 for a path that is invalid or absent."""
    try:
        normalised = normalise_path(path)
    except InvalidPath as exc:
        raise NotFound("No such file in this version.") from exc
    found = manifest_of_version(site, number).get(normalised)
    if found is None:
        raise NotFound("No such file in this version.")
    return found
