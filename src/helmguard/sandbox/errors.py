"""The one error the sandbox raises for anything a user can cause or fix."""


class SandboxError(Exception):
    """A one-line, user-facing reason the sandbox cannot be built, started or stopped."""
