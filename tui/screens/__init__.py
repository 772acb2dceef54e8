"""One screen per file; every screen takes the :class:`tui.screens.base.Context` it needs."""
