import warnings

with warnings.catch_warnings():
    # discord.py imports audioop, deprecated since Python 3.11, and pytest turns warnings
    # into errors; importing it here first, quietly, lets every test that uses the fakes
    # import discord. Drop this once pyproject's filterwarnings ignores that warning.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401
