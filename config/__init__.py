"""What an operator edits: typed settings from the environment, and (in later issues) the IVR
tree, categories and the demo roster as files beside this module."""

from config.settings import Environment, Settings, SettingsError

__all__ = ["Environment", "Settings", "SettingsError"]
