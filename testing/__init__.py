"""Helpers for hoot's own tests (as `optuna.testing` is for Optuna's): data the tests draw,
bench rows, misbehaving model builders, a toy bake-off engine, and a reaper for the
processes a test spawns. Shipped inside the package so the tests import them by one
name, `hoot.testing`, from any directory; the product never imports it.
"""
