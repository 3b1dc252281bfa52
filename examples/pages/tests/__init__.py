"""Tests for the pages example, sample by sample, through HTTP."""
