"""Every problem a user can cause or fix, in one place; each message says what to do.

Whatever raises an `EsmcError` is answered with its sentence (the CLI: `error: ...` on
stderr and exit 1; the window: the status line and a message box), never with a
traceback. Anything else that escapes is a bug, and is shown (CLI) or logged (window)
with its traceback.
"""


class EsmcError(Exception):
    """Base class: a problem the user can act on (bad file, bad folder, bad setting)."""


class ModelFileError(EsmcError):
    """A model file is missing, truncated, of the wrong kind, or does not fit its partner."""


class ImageError(EsmcError):
    """A photo can't be decoded or used."""


class PromptTooLongError(EsmcError):
    """The image plus the prompt do not fit the model's context."""


class RuntimeFailure(EsmcError):
    """llama.cpp refused to evaluate (e.g. out of memory); the message carries its code."""


class SettingsError(EsmcError, ValueError):
    """A setting that cannot work (a context too small for an image, GPU layers without a GPU build)."""


class FolderError(EsmcError):
    """A photo or output folder that is missing, is a file, or cannot be written."""


class OutputExistsError(EsmcError):
    """The output would replace a file the user owns; nothing is ever overwritten."""


class MethodInputError(EsmcError, ValueError):
    """The vectors or parameters given to the method can't produce a clustering."""


class ExportError(EsmcError):
    """The export could not finish; the message says what happened and that nothing was lost."""


class XmpError(EsmcError):
    """Exiv2 cannot read a file's metadata, so the file must not be rewritten; it is left as it is."""


class TagError(EsmcError):
    """Undo could not take every keyword of a tag export back; the message names the files."""


class Cancelled(EsmcError):
    """The user cancelled; everything finished so far is kept (cached photos, folders written)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl+C during a step that changed files: its message says what was done and how to take it back.

    Still a KeyboardInterrupt, so it stops everything after it (exit 130 on the command line).
    """
