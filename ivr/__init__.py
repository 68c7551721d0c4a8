"""The IVR front door: the first answer a caller hears on the hotline number."""
