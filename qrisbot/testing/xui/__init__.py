"""Pieces of the 3x-ui fake (`qrisbot.testing.fake_xui`): versions, the panel's state, links."""
