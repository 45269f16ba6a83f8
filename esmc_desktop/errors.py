"""The exceptions ESMC Desktop raises for bad input; each message says what to do."""


class EsmcError(Exception):
    """Base class: a problem the user can act on (bad file, bad parameter)."""


class ModelFileError(EsmcError):
    """A model file is missing, truncated, of the wrong kind, or does not fit its partner."""


class ImageError(EsmcError):
    """A photo can't be decoded or used."""


class PromptTooLongError(EsmcError):
    """The image plus the prompt do not fit the model's context."""


class RuntimeFailure(EsmcError):
    """llama.cpp refused to evaluate (e.g. out of memory); the message carries its code."""
