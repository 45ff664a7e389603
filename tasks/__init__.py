"""privacy-oci's stages, decisions and the parts that talk to git, the
registry and the builders; ``dodo.py`` turns them into doit tasks."""
