"""Reading a site at a version: the rules the owner's API, published sites and share links
share (a version number that must exist, a path that must be in that version's manifest), and
the process's cache of version manifests.

A committed version never changes (history is only appended to), so version n of a site has
the same manifest for as long as the site exists. Rebuilding one means parsing the whole
history (hundreds of embedded changes for a site's first version alone), so a manifest built
once is kept, bounded by the number of files held. A read served from the cache still reads
the site's card through the caller's scope first: the cache never answers for a site that is
gone or not the caller's.
"""

from __future__ import annotations

from collections import OrderedDict

from bson import ObjectId

from app.errors import NotFound, Unprocessable
from app.sites.paths import InvalidPath, normalise_path
from documents.site import Manifest, Site, SiteCard, SiteFile, SiteHistory, manifest_at


def existing_version(site: SiteCard | Site, version: int | None) -> int:
    """`version`, or the current one when None; 422 when the site has no such version."""
    number = version or site.current_version
    if not 1 <= number <= site.current_version:
        raise Unprocessable(
            f"Version {number} does not exist (the site has 1-{site.current_version}).",
            field="body.version",
        )
    return number


def manifest_of_version(site: SiteHistory | Site, number: int) -> Manifest:
    try:
        return manifest_at(site, number)
    except ValueError as exc:
        raise NotFound(f"No version {number}.") from exc


def file_at(site: Site, number: int, path: str) -> SiteFile:
    """The file at `path` in version `number`; 404 for a path that is invalid or absent."""
    return file_in(manifest_of_version(site, number), path)


def file_in(manifest: Manifest, path: str) -> SiteFile:
    try:
        normalised = normalise_path(path)
    except InvalidPath as exc:
        raise NotFound("No such file in this version.") from exc
    found = manifest.get(normalised)
    if found is None:
        raise NotFound("No such file in this version.")
    return found


# --- the manifest cache --------------------------------------------------------------------

# Files held across all cached manifests (a file is ~0.5 KB here): the least recently read
# manifests go first.
MANIFEST_CACHE_FILES = 100_000

_manifests: OrderedDict[tuple[ObjectId, int], Manifest] = OrderedDict()
_cached_files = 0


def cached_manifest(site_id: ObjectId, number: int) -> Manifest | None:
    """Version `number`'s manifest if this process built it before. Read-only: shared."""
    manifest = _manifests.get((site_id, number))
    if manifest is not None:
        _manifests.move_to_end((site_id, number))
    return manifest


def remember_manifest(site_id: ObjectId, number: int, manifest: Manifest) -> Manifest:
    """Keep version `number`'s manifest, sorted by path; what the cache now holds."""
    global _cached_files
    key = (site_id, number)
    if key in _manifests or len(manifest) > MANIFEST_CACHE_FILES:
        return _manifests.get(key) or dict(sorted(manifest.items()))
    kept = dict(sorted(manifest.items()))
    _manifests[key] = kept
    _cached_files += len(kept)
    while _cached_files > MANIFEST_CACHE_FILES:
        _, evicted = _manifests.popitem(last=False)
        _cached_files -= len(evicted)
    return kept
