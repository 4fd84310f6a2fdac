"""Method projects on dist_plugin, installed as ``dist_plugin_projects``."""
