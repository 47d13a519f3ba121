"""The workbench's Flask blueprint ``web``; the page modules attach their views to it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__)
