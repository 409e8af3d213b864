"""Site-wide fixes to what Jupyter Book 1 writes: a local Sphinx extension (``local_extensions`` in _config.yml)."""

from __future__ import annotations

from typing import Any


def _drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Sphinx 7.4 lists an inline script that an extension adds after the builder has started twice (once with
    filename None, once with ''), so sphinx-thebe's ``const THEBE_JS_URL`` is declared twice and every page
    throws "Identifier 'THEBE_JS_URL' has already been declared". Keep the first of equal scripts."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {})
        key = (getattr(js, "filename", js) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
