"""Imported into the metadata context through BBIMPORTS."""


def shout(text):
    return text.upper() + "!"
