"""Every controller but the panel: MIDI, OSC, presets and morphs, modulators and tempo, audio.

Each writes the parameter registry or asks for an action by name (``app.action_table``); none reaches
into the engine. ``hub.Controllers`` holds them and ticks them once per step in the loop's thread.
"""
