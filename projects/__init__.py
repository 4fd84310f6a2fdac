"""MMAction2 projects of dist_plugin (the frozen-CLIP peers of DiST)."""
