"""The generation cache, in five small modules.

:mod:`.key` makes keys, :mod:`.store` is the SQLite store, :mod:`.fingerprint` identifies models
and steering without loading them, :mod:`.cached` is the caching backend and :mod:`.mode` the modes.
Nothing here imports torch or pytest.
"""
