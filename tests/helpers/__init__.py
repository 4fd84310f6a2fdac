"""Shared builders for the test-suite (files are written under tmp_path)."""
