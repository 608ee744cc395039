"""helmguard: deploy Helm charts as application components and never lie about their state."""

__version__ = "0.1.0"
