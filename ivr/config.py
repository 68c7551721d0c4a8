"""The IVR configuration an app serves: its tree (config/ivr.yaml) and its classifier rules
(config/classifier.yaml), loaded and validated once at start-up.

`config()` is the app's, for the IVR's webhooks and CLI and for the packages above the IVR that
show what it decided (the console, Open311); the packages below it never read it.
"""

from __future__ import annotations

import dataclasses

from flask import Flask, current_app

from config.settings import Settings
from core.voice import Line
from ivr.classifier import Rules, load_rules
from ivr.tree import Tree, load_tree

#: Where the app keeps its IvrConfig (tests replace it to serve another tree).
EXTENSION = "hotline.ivr"


@dataclasses.dataclass(frozen=True)
class IvrConfig:
    """The tree and classifier rules an app serves, loaded and validated at start-up."""

    tree: Tree
    rules: Rules


def load(settings: Settings) -> IvrConfig:
    """Read and validate the files `settings` names (a bad file raises with its reason)."""
    return IvrConfig(tree=load_tree(settings.ivr_file), rules=load_rules(settings.classifier_file))


def init_app(app: Flask) -> None:
    """Load the app's IVR configuration: a bad file stops start-up with its reason."""
    app.extensions[EXTENSION] = load(app.extensions["hotline.settings"])


def config() -> IvrConfig:
    """The IVR configuration of the current app."""
    ivr: IvrConfig = current_app.extensions[EXTENSION]
    return ivr


def desk_prompt(language: str) -> tuple[Line, ...]:
    """What the front door says when it puts a caller through to the service desk, in
    `language` (the default language's lines if the tree has none in it): core.handover's."""
    tree = config().tree
    prompts = tree.branch_prompts["desk"]
    return prompts.get(language) or prompts[tree.default_language]
